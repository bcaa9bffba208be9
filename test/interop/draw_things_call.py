"""Calls the Draw Things app's contract (unpackaged ImageGenerationService) with grpcio.

Debian 12's grpc_tools (1.14, protoc 3.6) predates proto3 `optional`, which that contract uses for
its sharedSecret fields, so its messages come from a descriptor set that buf compiled from
proto/draw_things_image_service.proto at test time; the protobuf runtime (3.21) builds the
classes. The calls then go through grpcio's own channel, as a generated stub's would.
"""
import json

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PROTO = "draw_things_image_service.proto"


def message_classes(descriptor_set: str) -> dict:
    files = descriptor_pb2.FileDescriptorSet()
    with open(descriptor_set, "rb") as f:
        files.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    factory = message_factory.MessageFactory(pool)
    names = ("EchoRequest", "EchoReply", "FileListRequest", "FileExistenceResponse")
    # No package: the full names are the bare message names.
    return {name: factory.GetPrototype(pool.FindMessageTypeByName(name)) for name in names}


def unary(channel, method: str, reply_class):
    return channel.unary_unary(
        f"/ImageGenerationService/{method}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=reply_class.FromString,
    )


def call_draw_things(channel, descriptor_set: str, secret: str, files: list) -> dict:
    classes = message_classes(descriptor_set)
    echo = unary(channel, "Echo", classes["EchoReply"])
    files_exist = unary(channel, "FilesExist", classes["FileExistenceResponse"])
    request = classes["EchoRequest"]
    # The secret travels in the request, never in metadata.
    accepted = echo(request(name="python", sharedSecret=secret), timeout=10)
    refused = echo(request(name="python"), timeout=10)
    existence = files_exist(classes["FileListRequest"](files=files, filesWithHash=files, sharedSecret=secret), timeout=10)
    return {
        "dt_existences": list(existence.existences),
        "dt_hashes": [h.hex() for h in existence.hashes],
        "dt_message": accepted.message,
        "dt_files": list(accepted.files),
        "dt_models": json.loads(accepted.override.models.decode("utf-8")),
        "dt_server_identifier": accepted.serverIdentifier,
        "dt_secret_missing": [accepted.sharedSecretMissing, refused.sharedSecretMissing],
    }
