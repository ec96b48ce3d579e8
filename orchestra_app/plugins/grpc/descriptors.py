"""Message types for gRPC calls from a FileDescriptorSet (a spec's, or one read by server reflection)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, MethodDescriptor

from orchestra_app.domain.errors import ConfigurationError

REFLECTION_PATHS = (
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
)
MAX_REFLECTED_FILES = 500
_CACHE_SIZE = 64


class DescriptorError(ConfigurationError):
    """No usable descriptors: the spec was not compiled or reflection failed."""


class UnknownRpc(DescriptorError):
    """The descriptors have no such service or rpc."""


@dataclass
class MessageTypes:
    """A private descriptor pool (never the process default, so specs of tenants never mix)."""

    pool: descriptor_pool.DescriptorPool
    source: str  # "spec" | "reflection"
    files: list[str] = field(default_factory=list)
    _classes: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def method(self, rpc: str) -> MethodDescriptor:
        """``pkg.Service/Method`` or ``/pkg.Service/Method`` (``pkg.Service.Method`` accepted too)."""
        name = rpc.strip().lstrip("/")
        service, sep, method = name.rpartition("/")
        if not sep:
            service, _, method = name.rpartition(".")
        try:
            svc = self.pool.FindServiceByName(service)
        except KeyError:
            known = ", ".join(sorted(self.services())) or "none"
            raise UnknownRpc(
                f"service {service!r} is not in the {self.source} descriptors (services: {known})", field=rpc
            ) from None
        found = svc.methods_by_name.get(method)
        if found is None:
            known = ", ".join(sorted(svc.methods_by_name)) or "none"
            raise UnknownRpc(f"service {service!r} has no rpc {method!r} (rpcs: {known})", field=rpc)
        return found

    def services(self) -> list[str]:
        out: list[str] = []
        for name in self.files:
            try:
                out.extend(s.full_name for s in self.pool.FindFileByName(name).services_by_name.values())
            except KeyError:
                continue
        return out

    def message_class(self, descriptor: Descriptor) -> Any:
        with self._lock:
            cls = self._classes.get(descriptor.full_name)
            if cls is None:
                cls = message_factory.GetMessageClass(descriptor)
                self._classes[descriptor.full_name] = cls
            return cls


def _ordered(files: Iterable[descriptor_pb2.FileDescriptorProto]) -> list[descriptor_pb2.FileDescriptorProto]:
    """Dependencies before dependants (reflection answers in any order)."""
    by_name = {f.name: f for f in files}
    out: list[descriptor_pb2.FileDescriptorProto] = []
    done: set[str] = set()

    def visit(name: str, stack: frozenset[str]) -> None:
        if name in done or name in stack or name not in by_name:
            return
        for dep in by_name[name].dependency:
            visit(dep, stack | {name})
        done.add(name)
        out.append(by_name[name])

    for name in by_name:
        visit(name, frozenset())
    return out


def build_types(files: Iterable[descriptor_pb2.FileDescriptorProto], source: str) -> MessageTypes:
    pool = descriptor_pool.DescriptorPool()
    ordered = _ordered(files)
    for fdp in ordered:
        try:
            pool.AddSerializedFile(fdp.SerializeToString())
        except Exception as exc:  # protobuf raises TypeError/KeyError variants per backend
            raise DescriptorError(f"descriptor of {fdp.name!r} cannot be loaded: {exc}") from None
    return MessageTypes(pool, source, [f.name for f in ordered])


_cache: OrderedDict[str, MessageTypes] = OrderedDict()
_cache_lock = threading.Lock()


def types_from_spec(encoded: str) -> MessageTypes:
    """The spec's ``descriptorSet`` (base64 FileDescriptorSet); cached by content, so one pool per spec."""
    key = hashlib.sha256(encoded.encode("ascii", "replace")).hexdigest()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    try:
        fds = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError, Exception) as exc:
        raise DescriptorError(f"the spec's descriptorSet cannot be read: {type(exc).__name__}") from None
    types = build_types(fds.file, "spec")
    with _cache_lock:
        _cache[key] = types
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return types


def types_from_reflection(
    channel: grpc.Channel, services: Iterable[str], *, timeout: float, metadata: list[tuple[str, str]]
) -> MessageTypes:
    """Ask the server (reflection v1, then v1alpha) for the files defining ``services`` and their imports."""
    from grpc_reflection.v1alpha import reflection_pb2 as rpb

    last_error: grpc.RpcError | None = None
    for path in REFLECTION_PATHS:
        call = channel.stream_stream(
            path,
            request_serializer=rpb.ServerReflectionRequest.SerializeToString,
            response_deserializer=rpb.ServerReflectionResponse.FromString,
        )
        try:
            files = _reflect(call, list(services), timeout=timeout, metadata=metadata)
        except grpc.RpcError as exc:
            last_error = exc
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                continue
            break
        return build_types(files.values(), "reflection")
    assert last_error is not None
    code = last_error.code()
    raise DescriptorError(
        f"server reflection failed: {code.name if code else 'UNKNOWN'}: {last_error.details() or ''}".rstrip(
            ": "
        )
    )


def _reflect(
    call: Any, services: list[str], *, timeout: float, metadata: list[tuple[str, str]]
) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    from grpc_reflection.v1alpha import reflection_pb2 as rpb

    files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    requests = [rpb.ServerReflectionRequest(file_containing_symbol=s) for s in services]
    asked: set[str] = set()
    while requests:
        for response in call(iter(requests), timeout=timeout, metadata=metadata):
            if response.HasField("error_response"):
                err = response.error_response
                raise DescriptorError(
                    f"server reflection: {err.error_message or 'error'} (status {err.error_code})"
                )
            for raw in response.file_descriptor_response.file_descriptor_proto:
                fdp = descriptor_pb2.FileDescriptorProto.FromString(raw)
                files.setdefault(fdp.name, fdp)
        if len(files) > MAX_REFLECTED_FILES:
            raise DescriptorError(f"server reflection returned more than {MAX_REFLECTED_FILES} files")
        missing = {d for f in files.values() for d in f.dependency if d not in files}
        if missing & asked:
            raise DescriptorError(f"server reflection did not return {sorted(missing & asked)}")
        asked |= missing
        requests = [rpb.ServerReflectionRequest(file_by_filename=name) for name in sorted(missing)]
    return files
