"""The built-in gRPC plugin (protoc descriptors, grpcio); entry point `grpc` in pyproject.toml."""

from __future__ import annotations

from orchestra_app.plugins.grpc.plugin import GrpcPlugin, GrpcSpecParser

plugin = GrpcPlugin()

__all__ = ["GrpcPlugin", "GrpcSpecParser", "plugin"]
