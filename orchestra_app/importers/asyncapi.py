"""AsyncAPI 2.x (publish/subscribe) and 3.x (send/receive operations) -> SpecSummary."""

from __future__ import annotations

from typing import Any

from orchestra_app.domain.spec import Operation, Server, SpecSummary
from orchestra_app.importers.openapi import synthesize_operation_id
from orchestra_app.importers.refs import Bundler, RefError, RefResolver, Warnings, is_ref, pointer

COMPONENT_KINDS = (
    "schemas",
    "servers",
    "channels",
    "operations",
    "messages",
    "parameters",
    "correlationIds",
    "replies",
    "replyAddresses",
    "externalDocs",
    "tags",
    "operationTraits",
    "messageTraits",
    "securitySchemes",
    "serverVariables",
    "serverBindings",
    "channelBindings",
    "operationBindings",
    "messageBindings",
)
# AsyncAPI 2 "publish" means other applications publish to this one: this application receives.
V2_ACTIONS = {"publish": "receive", "subscribe": "send"}
JSON_SCHEMA_FORMATS = ("application/vnd.aai.asyncapi", "application/schema+json")

Where = list[Any]


class AsyncApiImporter:
    def __init__(self, doc: dict[str, Any], resolver: RefResolver, warnings: Warnings) -> None:
        self.doc = doc
        self.resolver = resolver
        self.warnings = warnings
        self.version = str(doc.get("asyncapi", "")).strip()
        self.v3 = self.version.startswith("3")
        if not (self.v3 or self.version.startswith("2")):
            warnings.add("unsupported_version", f"asyncapi {self.version!r} read as 3.x", ["asyncapi"])
            self.v3 = True
        prefixes: dict[tuple[str, ...], str] = {("components", kind): kind for kind in COMPONENT_KINDS}
        self.bundler = Bundler(resolver, warnings, root_prefixes=prefixes)
        self.default_content_type = doc.get("defaultContentType")
        self.seen_ids: dict[str, int] = {}
        self.root = resolver.root_uri

    def warn(self, code: str, message: str, where: Where, uri: str | None = None) -> None:
        self.warnings.add(code, message, where, self.resolver.display(uri or self.root))

    def deref(self, node: Any, uri: str, where: Where) -> tuple[Any, str, Where]:
        try:
            target, turi, tokens = self.resolver.deref(node, uri)
        except RefError as exc:
            self.warn(exc.code, exc.message, [*where, "$ref"], uri)
            return None, uri, where
        return target, turi, (list(tokens) if tokens is not None else where)

    def copy(self, node: Any, uri: str, where: Where) -> Any:
        if node is None:
            return None
        return self.bundler.copy(node, uri, where)

    # -------------------------------------------------------------------------------------------- run

    def run(self) -> SpecSummary:
        info: dict[str, Any] = self.doc["info"] if isinstance(self.doc.get("info"), dict) else {}
        channels = self.doc.get("channels")
        if channels is not None and not isinstance(channels, dict):
            self.warn("invalid_channels", "channels is not an object", ["channels"])
            channels = {}
        channels = channels or {}
        operations = self._operations_v3(channels) if self.v3 else self._operations_v2(channels)
        summary = SpecSummary(
            protocol="asyncapi",
            format="asyncapi",
            spec_version=self.version,
            title=_text(info.get("title")),
            version=_text(info.get("version")),
            schema_dialect="jsonschema-draft-07",
            servers=self._servers(),
            operations=operations,
        )
        summary.channels = self._channel_summaries(channels)  # type: ignore[attr-defined]
        comps = self.doc.get("components")
        if isinstance(comps, dict):
            for kind in COMPONENT_KINDS:
                section = comps.get(kind)
                if isinstance(section, dict):
                    for name in section:
                        self.bundler.add_root_component(kind, name)
            schemes = comps.get("securitySchemes")
            if isinstance(schemes, dict):
                summary.security_schemes = {
                    k: v
                    for k, v in (
                        (k, self.deref(v, self.root, ["components", "securitySchemes", k])[0])
                        for k, v in schemes.items()
                    )
                    if isinstance(v, dict)
                }
        summary.components = self.bundler.finish()
        summary.components.setdefault("schemas", {})
        summary.warnings = self.warnings.items
        return summary

    def _servers(self) -> list[Server]:
        servers = self.doc.get("servers")
        if not isinstance(servers, dict):
            return []
        out: list[Server] = []
        for name, raw in servers.items():
            s, _, where = self.deref(raw, self.root, ["servers", name])
            if not isinstance(s, dict):
                continue
            protocol = s.get("protocol")
            if self.v3:
                url = f"{s.get('host', '')}{s.get('pathname', '') or ''}"
                if protocol and "://" not in url:
                    url = f"{protocol}://{url}"
            else:
                url = str(s.get("url", ""))
            server = Server(url=url, description=_text(s.get("description")))
            server.name = name  # type: ignore[attr-defined]
            server.protocol = protocol  # type: ignore[attr-defined]
            if s.get("protocolVersion") is not None:
                server.protocol_version = str(s["protocolVersion"])  # type: ignore[attr-defined]
            if isinstance(s.get("bindings"), dict):
                server.bindings = self.copy(s["bindings"], self.root, [*where, "bindings"])  # type: ignore[attr-defined]
            out.append(server)
        return out

    def _channel_summaries(self, channels: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for key, raw in channels.items():
            ch, curi, cwhere = self.deref(raw, self.root, ["channels", key])
            if not isinstance(ch, dict):
                continue
            entry: dict[str, Any] = {"name": key, "address": self._address(key, ch)}
            if isinstance(ch.get("parameters"), dict):
                entry["parameters"] = self.copy(ch["parameters"], curi, [*cwhere, "parameters"])
            if isinstance(ch.get("bindings"), dict):
                entry["bindings"] = self.copy(ch["bindings"], curi, [*cwhere, "bindings"])
            out.append(entry)
        return out

    def _address(self, key: str, channel: dict[str, Any]) -> str:
        if self.v3:
            address = channel.get("address")
            return address if isinstance(address, str) else key
        return key

    def _new_id(self, raw: Any, action: str, channel: str, where: Where) -> tuple[str, bool]:
        synthesized = not (isinstance(raw, str) and raw.strip())
        op_id = synthesize_operation_id(action, channel) if synthesized else str(raw)
        n = self.seen_ids.get(op_id, 0) + 1
        self.seen_ids[op_id] = n
        if n > 1:
            if not synthesized:
                self.warn("duplicate_operation_id", f"operation id {op_id!r} is used more than once", where)
            op_id = f"{op_id}_{n}"
        return op_id, synthesized

    # ------------------------------------------------------------------------------------------- v2

    def _operations_v2(self, channels: dict[str, Any]) -> list[Operation]:
        ops: list[Operation] = []
        for name, raw in channels.items():
            ch, curi, cwhere = self.deref(raw, self.root, ["channels", name])
            if not isinstance(ch, dict):
                if ch is not None:
                    self.warn("invalid_channel", "channel is not an object", cwhere, curi)
                continue
            for verb in ("publish", "subscribe"):
                if verb not in ch:
                    continue
                op, ouri, owhere = self.deref(ch[verb], curi, [*cwhere, verb])
                if not isinstance(op, dict):
                    continue
                action = V2_ACTIONS[verb]
                op_id, synthesized = self._new_id(
                    op.get("operationId"), action, name, [*owhere, "operationId"]
                )
                messages = self._messages_v2(op.get("message"), ouri, [*owhere, "message"])
                tags = op.get("tags")
                operation = Operation(
                    id=op_id,
                    method=action,
                    path=name,
                    summary=_text(op.get("summary")),
                    description=_text(op.get("description")),
                    tags=_tag_names(tags),
                    synthesized_id=synthesized,
                )
                operation.channel = name  # type: ignore[attr-defined]
                operation.action = verb  # type: ignore[attr-defined]
                operation.messages = messages  # type: ignore[attr-defined]
                operation.bindings = self.copy(op.get("bindings"), ouri, [*owhere, "bindings"]) or {}  # type: ignore[attr-defined]
                operation.channel_bindings = self.copy(ch.get("bindings"), curi, [*cwhere, "bindings"]) or {}  # type: ignore[attr-defined]
                if isinstance(op.get("security"), list):
                    operation.security = [
                        {str(k): [str(x) for x in v] if isinstance(v, list) else [] for k, v in r.items()}
                        for r in op["security"]
                        if isinstance(r, dict)
                    ]
                ops.append(operation)
        return ops

    def _messages_v2(self, node: Any, uri: str, where: Where) -> list[dict[str, Any]]:
        msg, muri, mwhere = self.deref(node, uri, where)
        if msg is None:
            return []
        if not isinstance(msg, dict):
            self.warn("invalid_message", "message is not an object", mwhere, muri)
            return []
        if isinstance(msg.get("oneOf"), list):
            out: list[dict[str, Any]] = []
            for i, m in enumerate(msg["oneOf"]):
                out.extend(self._messages_v2(m, muri, [*mwhere, "oneOf", i]))
            return out
        name = mwhere[-1] if is_ref(node) and mwhere else None
        return [self._message(msg, muri, mwhere, str(name) if name is not None else None)]

    # ------------------------------------------------------------------------------------------- v3

    def _operations_v3(self, channels: dict[str, Any]) -> list[Operation]:
        operations = self.doc.get("operations")
        if operations is None:
            return []
        if not isinstance(operations, dict):
            self.warn("invalid_operations", "operations is not an object", ["operations"])
            return []
        ops: list[Operation] = []
        for key, raw in operations.items():
            op, ouri, owhere = self.deref(raw, self.root, ["operations", key])
            if not isinstance(op, dict):
                if op is not None:
                    self.warn("invalid_operation", "operation is not an object", owhere, ouri)
                continue
            action = op.get("action")
            if action not in ("send", "receive"):
                self.warn(
                    "invalid_action",
                    f"action {action!r} is neither send nor receive",
                    [*owhere, "action"],
                    ouri,
                )
                action = "send" if action is None else str(action)
            ch, curi, cwhere = self.deref(op.get("channel"), ouri, [*owhere, "channel"])
            if not isinstance(ch, dict):
                self.warn("missing_channel", "operation has no readable channel", [*owhere, "channel"], ouri)
                ch, curi, cwhere = {}, ouri, [*owhere, "channel"]
            channel_name = str(cwhere[-1]) if cwhere and cwhere[:1] == ["channels"] else key
            address = self._address(channel_name, ch)
            op_id, synthesized = self._new_id(key, action, address, owhere)
            if isinstance(op.get("messages"), list):
                refs = [(m, ouri, [*owhere, "messages", i]) for i, m in enumerate(op["messages"])]
            else:
                chmsgs: dict[str, Any] = ch["messages"] if isinstance(ch.get("messages"), dict) else {}
                refs = [(m, curi, [*cwhere, "messages", n]) for n, m in chmsgs.items()]
            messages = []
            for m, muri, mwhere in refs:
                msg, turi, twhere = self.deref(m, muri, mwhere)
                if isinstance(msg, dict):
                    messages.append(self._message(msg, turi, twhere, str(twhere[-1]) if twhere else None))
                elif msg is not None:
                    self.warn("invalid_message", "message is not an object", twhere, turi)
            operation = Operation(
                id=op_id,
                method=action,
                path=address,
                summary=_text(op.get("summary") or op.get("title")),
                description=_text(op.get("description")),
                tags=_tag_names(op.get("tags")),
                synthesized_id=synthesized,
            )
            operation.channel = channel_name  # type: ignore[attr-defined]
            operation.action = action  # type: ignore[attr-defined]
            operation.messages = messages  # type: ignore[attr-defined]
            operation.bindings = self.copy(op.get("bindings"), ouri, [*owhere, "bindings"]) or {}  # type: ignore[attr-defined]
            operation.channel_bindings = self.copy(ch.get("bindings"), curi, [*cwhere, "bindings"]) or {}  # type: ignore[attr-defined]
            if isinstance(op.get("security"), list):
                operation.security = self._security_v3(op["security"], ouri, [*owhere, "security"])
            reply = op.get("reply")
            if reply is not None:
                operation.reply = self._reply(reply, ouri, [*owhere, "reply"])  # type: ignore[attr-defined]
            ops.append(operation)
        return ops

    def _security_v3(self, items: list[Any], uri: str, where: Where) -> list[dict[str, list[str]]]:
        """AsyncAPI 3 lists security scheme objects; they become requirement objects ``{name: scopes}``."""
        out: list[dict[str, list[str]]] = []
        for i, item in enumerate(items):
            scheme, _, swhere = self.deref(item, uri, [*where, i])
            if not isinstance(scheme, dict):
                continue
            name = str(swhere[-1]) if is_ref(item) and swhere else str(scheme.get("type", f"scheme{i}"))
            scopes: list[Any] = scheme["scopes"] if isinstance(scheme.get("scopes"), list) else []
            out.append({name: [str(x) for x in scopes]})
        return out

    def _reply(self, node: Any, uri: str, where: Where) -> dict[str, Any]:
        reply, ruri, rwhere = self.deref(node, uri, where)
        if not isinstance(reply, dict):
            return {}
        out: dict[str, Any] = {}
        ch, _, cwhere = self.deref(reply.get("channel"), ruri, [*rwhere, "channel"])
        if isinstance(ch, dict):
            name = str(cwhere[-1]) if cwhere else ""
            out["channel"] = name
            out["address"] = self._address(name, ch)
        addr, _, _ = self.deref(reply.get("address"), ruri, [*rwhere, "address"])
        if isinstance(addr, dict):
            out["address_location"] = addr.get("location")
        msgs: list[Any] = reply["messages"] if isinstance(reply.get("messages"), list) else []
        out["messages"] = []
        for i, m in enumerate(msgs):
            msg, muri, mwhere = self.deref(m, ruri, [*rwhere, "messages", i])
            if isinstance(msg, dict):
                out["messages"].append(self._message(msg, muri, mwhere, str(mwhere[-1]) if mwhere else None))
        return out

    # ------------------------------------------------------------------------------------- messages

    def _message(self, msg: dict[str, Any], uri: str, where: Where, name: str | None) -> dict[str, Any]:
        msg = self._apply_traits(msg, uri, where)
        info: dict[str, Any] = {"name": _text(msg.get("name")) or name, "pointer": pointer(where) or "/"}
        if uri != self.root:
            info["file"] = self.resolver.display(uri)
        for key in ("title", "summary", "contentType"):
            if isinstance(msg.get(key), str):
                info[key] = msg[key]
        info.setdefault("contentType", self.default_content_type)
        payload = msg.get("payload")
        schema_format = msg.get("schemaFormat")
        if self.v3 and isinstance(payload, dict) and "schemaFormat" in payload and "schema" in payload:
            schema_format = payload.get("schemaFormat")
            info["payload"] = self.copy(payload.get("schema"), uri, [*where, "payload", "schema"])
        else:
            info["payload"] = self.copy(payload, uri, [*where, "payload"])
        if schema_format is not None:
            info["schemaFormat"] = schema_format
            if not str(schema_format).startswith(JSON_SCHEMA_FORMATS):
                self.warn(
                    "foreign_schema_format",
                    f"payload schema format {schema_format!r} is kept as is",
                    where,
                    uri,
                )
        if msg.get("headers") is not None:
            info["headers"] = self.copy(msg["headers"], uri, [*where, "headers"])
        corr, _, _ = self.deref(msg.get("correlationId"), uri, [*where, "correlationId"])
        if isinstance(corr, dict):
            info["correlationId"] = {k: corr[k] for k in ("location", "description") if k in corr}
        bindings = msg.get("bindings")
        if isinstance(bindings, dict):
            info["bindings"] = self.copy(bindings, uri, [*where, "bindings"])
            kafka = info["bindings"].get("kafka")
            if isinstance(kafka, dict) and kafka.get("key") is not None:
                info["key"] = kafka["key"]
        return info

    def _apply_traits(self, msg: dict[str, Any], uri: str, where: Where) -> dict[str, Any]:
        traits = msg.get("traits")
        if not isinstance(traits, list):
            return msg
        merged = dict(msg)
        for i, raw in enumerate(traits):
            trait, _, _ = self.deref(raw, uri, [*where, "traits", i])
            if isinstance(trait, dict):
                for k, v in trait.items():
                    merged.setdefault(k, v)  # the message's own fields win over its traits
        return merged


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _tag_names(tags: Any) -> list[str]:
    if not isinstance(tags, list):
        return []
    return [str(t.get("name")) if isinstance(t, dict) else str(t) for t in tags if t is not None]


def import_asyncapi(doc: dict[str, Any], resolver: RefResolver, warnings: Warnings) -> SpecSummary:
    return AsyncApiImporter(doc, resolver, warnings).run()
