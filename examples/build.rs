//! Generates the `helloworld.Greeter` gRPC service and client with
//! tonic-build's manual builder: the messages are Rust types (`src`), so no
//! `protoc` is needed. `proto/helloworld.proto` describes the same service
//! for other languages' clients (the Python test generates its stubs from
//! it).

fn main() {
    let say_hello = tonic_build::manual::Method::builder()
        .name("say_hello")
        .route_name("SayHello")
        .input_type("crate::greeter::HelloRequest")
        .output_type("crate::greeter::HelloReply")
        .codec_path("tonic_prost::ProstCodec")
        .build();
    let say_hello_stream = tonic_build::manual::Method::builder()
        .name("say_hello_stream")
        .route_name("SayHelloStream")
        .input_type("crate::greeter::HelloRequest")
        .output_type("crate::greeter::HelloReply")
        .codec_path("tonic_prost::ProstCodec")
        .server_streaming()
        .build();
    let greeter = tonic_build::manual::Service::builder()
        .name("Greeter")
        .package("helloworld")
        .method(say_hello)
        .method(say_hello_stream)
        .build();
    tonic_build::manual::Builder::new()
        .build_transport(false)
        .compile(&[greeter]);
}
