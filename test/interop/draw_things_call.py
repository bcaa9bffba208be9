"""Calls the Draw Things app's contract (unpackaged ImageGenerationService) with grpcio.

Debian 12's grpc_tools (1.14, protoc 3.6) predates proto3 `optional`, which that contract uses for
its sharedSecret fields, so its messages come from a descriptor set that buf compiled from
proto/draw_things_image_service.proto at test time; the protobuf runtime (3.21) builds the
classes. The calls then go through grpcio's own channel, as a generated stub's would.
"""
import hashlib
import json

import flatbuffers
import numpy
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
    names = ("EchoRequest", "EchoReply", "FileListRequest", "FileExistenceResponse", "ImageGenerationRequest", "ImageGenerationResponse", "FileUploadRequest", "UploadResponse")
    # No package: the full names are the bare message names.
    return {name: factory.GetPrototype(pool.FindMessageTypeByName(name)) for name in names}


def unary(channel, method: str, reply_class):
    return channel.unary_unary(
        f"/ImageGenerationService/{method}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=reply_class.FromString,
    )


# GenerationConfiguration slots, by the app's declaration order (docs/draw-things-protocol.md).
SLOT_START_WIDTH, SLOT_START_HEIGHT, SLOT_SEED, SLOT_STEPS, SLOT_GUIDANCE, SLOT_MODEL, SLOT_SAMPLER = 1, 2, 3, 4, 5, 7, 8
SLOTS = 86
EULER_A = 1


def configuration(model: str, size: int, seed: int, steps: int) -> bytes:
    """A configuration built with the FlatBuffers library by slot number, independently of the project's schema."""
    builder = flatbuffers.Builder(128)
    name = builder.CreateString(model)
    builder.StartObject(SLOTS)
    builder.PrependUint16Slot(SLOT_START_WIDTH, size // 64, 0)
    builder.PrependUint16Slot(SLOT_START_HEIGHT, size // 64, 0)
    builder.PrependUint32Slot(SLOT_SEED, seed, 0)
    builder.PrependUint32Slot(SLOT_STEPS, steps, 0)
    builder.PrependFloat32Slot(SLOT_GUIDANCE, 7.0, 0.0)
    builder.PrependUOffsetTRelativeSlot(SLOT_MODEL, name, 0)
    builder.PrependInt8Slot(SLOT_SAMPLER, EULER_A, 0)
    builder.Finish(builder.EndObject())
    return bytes(builder.Output())


def generate(channel, classes: dict, secret: str) -> dict:
    """txt2img on the built-in model; the picture is read as the app reads it: 68-byte header, then fp16 NHWC."""
    call = channel.unary_stream(
        "/ImageGenerationService/GenerateImage",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=classes["ImageGenerationResponse"].FromString,
    )
    request = classes["ImageGenerationRequest"](prompt="a photo of a cat", negativePrompt="blurry", configuration=configuration("smoke", 64, 42, 2), sharedSecret=secret)
    signposts, images = [], []
    for response in call(request, timeout=120):
        if response.HasField("currentSignpost"):
            signposts.append(response.currentSignpost.WhichOneof("signpost"))
        images.extend(response.generatedImages)
    header = numpy.frombuffer(images[0][:68], dtype="<u4")
    pixels = numpy.frombuffer(images[0][68:], dtype="<f2").reshape(header[5:9])
    rgb = numpy.clip(numpy.rint((pixels.astype(numpy.float32) + 1) * 127.5), 0, 255).astype(numpy.uint8)
    return {"dt_signposts": signposts, "dt_header": header[:9].tolist(), "dt_rgb_sha256": hashlib.sha256(rgb.tobytes()).hexdigest()}


def upload(channel, classes: dict, secret: str, name: str, content: bytes, skip_chunk: bool = False) -> dict:
    """The app's uploader: initRequest with the raw SHA-256, then 1000-byte chunks at their offsets."""
    call = channel.stream_stream(
        "/ImageGenerationService/UploadFile",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=classes["UploadResponse"].FromString,
    )
    request = classes["FileUploadRequest"]
    messages = [request(initRequest={"filename": name, "sha256": hashlib.sha256(content).digest(), "totalSize": len(content)}, sharedSecret=secret)]
    for offset in range(0, len(content), 1000):
        if skip_chunk and offset == 1000:
            continue
        messages.append(request(chunk={"content": content[offset:offset + 1000], "offset": offset}, sharedSecret=secret))
    offsets = []
    try:
        for response in call(iter(messages), timeout=30):
            offsets.append(response.receivedOffset)
        return {"offsets": offsets, "status": "OK"}
    except Exception as error:  # grpc.RpcError: the status is what the test compares
        return {"offsets": offsets, "status": error.code().name}


def call_draw_things(channel, descriptor_set: str, secret: str, files: list) -> dict:
    classes = message_classes(descriptor_set)
    echo = unary(channel, "Echo", classes["EchoReply"])
    files_exist = unary(channel, "FilesExist", classes["FileExistenceResponse"])
    request = classes["EchoRequest"]
    # The secret travels in the request, never in metadata.
    accepted = echo(request(name="python", sharedSecret=secret), timeout=10)
    refused = echo(request(name="python"), timeout=10)
    existence = files_exist(classes["FileListRequest"](files=files, filesWithHash=files, sharedSecret=secret), timeout=10)
    content = bytes(range(256)) * 10
    return {
        **generate(channel, classes, secret),
        "dt_upload": upload(channel, classes, secret, "python-upload.bin", content),
        "dt_upload_gap": upload(channel, classes, secret, "python-gap.bin", content, skip_chunk=True),
        "dt_existences": list(existence.existences),
        "dt_hashes": [h.hex() for h in existence.hashes],
        "dt_message": accepted.message,
        "dt_files": list(accepted.files),
        "dt_models": json.loads(accepted.override.models.decode("utf-8")),
        "dt_server_identifier": accepted.serverIdentifier,
        "dt_secret_missing": [accepted.sharedSecretMissing, refused.sharedSecretMissing],
    }
