"""Calls the grpc_greeter example with grpcio (Python's gRPC), from stubs
generated here from proto/helloworld.proto. Prints one JSON object with
what each call returned; the Rust test checks it.

    python grpc_client.py ADDR PROTO_DIR OUT_DIR
"""
import json
import os
import sys

from grpc_tools import protoc

addr, proto_dir, out_dir = sys.argv[1:4]
os.makedirs(out_dir, exist_ok=True)
rc = protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={out_dir}",
                  f"--grpc_python_out={out_dir}", os.path.join(proto_dir, "helloworld.proto")])
if rc != 0:
    sys.exit(f"protoc failed: {rc}")
sys.path.insert(0, out_dir)

import grpc  # noqa: E402
import helloworld_pb2  # noqa: E402
import helloworld_pb2_grpc  # noqa: E402

out = {}
with grpc.insecure_channel(addr) as channel:
    stub = helloworld_pb2_grpc.GreeterStub(channel)
    out["unary"] = stub.SayHello(helloworld_pb2.HelloRequest(name="python"), timeout=10).message
    try:
        stub.SayHello(helloworld_pb2.HelloRequest(name=""), timeout=10)
        out["empty"] = "no error"
    except grpc.RpcError as e:
        out["empty"] = [e.code().name, e.details()]
    out["stream"] = [r.message for r in stub.SayHelloStream(helloworld_pb2.HelloRequest(name="py"), timeout=10)]
    got = []
    try:
        for r in stub.SayHelloStream(helloworld_pb2.HelloRequest(name="fail"), timeout=10):
            got.append(r.message)
        out["fail"] = [got, "no error"]
    except grpc.RpcError as e:
        out["fail"] = [got, e.code().name, e.details()]
print(json.dumps(out))
