//! Compiles guichet's v1 API (`proto/guichet/v1/*.proto`) into Rust with tonic-prost-build:
//! messages, server traits and clients, plus the encoded file descriptor set that server
//! reflection serves (`$OUT_DIR/guichet_descriptor.bin`, with the `google/protobuf` imports).
//!
//! `protoc` comes from `$PROTOC` when set, else from `protoc-bin-vendored` (the machines that
//! build guichet have no system `protoc`). The vendored well-known types are always on the
//! include path so that a `$PROTOC` without them still finds `google/protobuf/*.proto`.

use std::{
    env,
    error::Error,
    fs,
    path::{Path, PathBuf},
};

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let package_dir = proto_root.join("guichet/v1");

    // tonic-prost-build prints no rerun-if-changed lines, and once a build script prints any,
    // Cargo stops watching the package: name the proto folder (scanned recursively) ourselves.
    println!("cargo:rerun-if-changed={}", proto_root.display());
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PROTOC");

    let protos = proto_files(&package_dir)?;
    if protos.is_empty() {
        return Err(format!("no .proto file in {}", package_dir.display()).into());
    }

    let protoc = match env::var_os("PROTOC") {
        Some(path) => PathBuf::from(path),
        None => protoc_bin_vendored::protoc_bin_path()?,
    };
    let well_known_types = protoc_bin_vendored::include_path()?;

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .file_descriptor_set_path(out_dir.join("guichet_descriptor.bin"))
        .compile_with_config(config, &protos, &[proto_root, well_known_types])?;
    Ok(())
}

/// The `.proto` files of one package directory, sorted so that the generated code is stable.
fn proto_files(dir: &Path) -> Result<Vec<PathBuf>, Box<dyn Error>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "proto") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
