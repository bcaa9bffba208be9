"""Calls the server with Python's grpcio (a second, independent gRPC implementation).

Usage: python_client.py PROTO_DIR ADDRESS CA_FILE [FILE ...]
Reads the shared secret from DTS_UTIL_SHARED_SECRET, never from argv, and the Draw Things
contract's descriptor set (see draw_things_call.py) from DTS_INTEROP_DESCRIPTORS. Prints one
JSON object.
"""
import json
import os
import sys
import tempfile

import grpc
from grpc_tools import protoc


def main() -> None:
    proto_dir, address, ca_file, *files = sys.argv[1:]
    # The generated modules are imported at once, so the folder can go when the calls are done.
    with tempfile.TemporaryDirectory(prefix="dts-interop-") as out:
        call_server(proto_dir, address, ca_file, files, out)


def call_server(proto_dir: str, address: str, ca_file: str, files: list, out: str) -> None:
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rc = protoc.main(["protoc", f"-I{proto_dir}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}", "image_generation.proto"])
    if rc != 0:
        raise SystemExit(f"protoc failed with {rc}")
    sys.path.insert(0, out)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from draw_things_call import call_draw_things
    import image_generation_pb2 as pb
    import image_generation_pb2_grpc as pb_grpc

    with open(ca_file, "rb") as f:
        credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
    # The certificate names localhost; TLS forbids IP addresses as server names.
    options = [("grpc.ssl_target_name_override", "localhost")]
    secret = os.environ.get("DTS_UTIL_SHARED_SECRET")
    metadata = [("authorization", f"Bearer {secret}")] if secret else []
    with grpc.secure_channel(address, credentials, options) as channel:
        stub = pb_grpc.ImageGenerationServiceStub(channel)
        echo = stub.Echo(pb.EchoRequest(), metadata=metadata, timeout=10)
        exists = stub.FilesExist(pb.FilesExistRequest(files=files), metadata=metadata, timeout=10)
        try:
            stub.Echo(pb.EchoRequest(), timeout=10)
            unauthenticated = "OK"
        except grpc.RpcError as error:
            unauthenticated = error.code().name
        draw_things = call_draw_things(channel, os.environ["DTS_INTEROP_DESCRIPTORS"], secret or "", ["smoke", *files])
    print(json.dumps({
        **draw_things,
        "echo": echo.message,
        "files": list(exists.files),
        "exists": list(exists.exists),
        "errors": list(exists.errors),
        "without_secret": unauthenticated,
    }))


if __name__ == "__main__":
    main()
