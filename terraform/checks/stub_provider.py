"""A schema-only Snowflake provider for offline `terraform validate` and placeholder plans.

It serves the schema that extract_schema.py rebuilt from the CDK binding, so Terraform checks
every resource type, argument name, type and required argument against the real provider's
schema. Planning a create works (read-only attributes become "known after apply"); anything
that would touch an account (apply, refresh of existing state, data sources) is refused.

Usage: python stub_provider.py SCHEMA.json   (started by Terraform through a launcher script)
"""

from __future__ import annotations

import json
import sys
from typing import Any, ClassVar

from tf import runner
from tf.gen import tfplugin_pb2 as pb
from tf.iface import Config, DataSource, Provider, Resource, State
from tf.schema import Attribute, Block, NestedBlock, NestMode, Schema
from tf.types import TfType
from tf.utils import Diagnostics

_NESTING = {
    "list": pb.Schema.NestedBlock.NestingMode.LIST,
    "set": pb.Schema.NestedBlock.NestingMode.SET,
    "single": pb.Schema.NestedBlock.NestingMode.SINGLE,
    "map": pb.Schema.NestedBlock.NestingMode.MAP,
}
_REFUSAL = "schema-only stub provider: it validates and plans, it never talks to Snowflake"


class CtyType(TfType):
    """Any Terraform type, given in its JSON form; values pass through unchanged."""

    def __init__(self, json_type: Any):
        self._bytes = json.dumps(json_type, separators=(",", ":")).encode()

    def encode(self, value: Any) -> Any:
        return value

    def decode(self, value: Any) -> Any:
        return value

    def tf_type(self) -> bytes:
        return self._bytes


class StubBlock(NestedBlock):
    def __init__(self, type_name: str, spec: dict[str, Any]):
        super().__init__(
            type_name,
            NestMode.Set,
            _block(spec["block"]),
            min_items=spec.get("min_items"),
            max_items=spec.get("max_items"),
        )
        self.mode = spec["nesting_mode"]

    def to_pb(self) -> pb.Schema.NestedBlock:
        message = super().to_pb()
        message.nesting = _NESTING[self.mode]
        return message

    def encode(self, value: Any) -> Any:
        return value

    def decode(self, value: Any) -> Any:
        return value

    def semantically_equal(self, a_decoded: Any, b_decoded: Any) -> bool:
        return a_decoded == b_decoded


def _attributes(block: dict[str, Any]) -> list[Attribute]:
    return [
        Attribute(
            name,
            CtyType(spec["type"]),
            description=spec.get("description"),
            required=spec.get("required", False),
            optional=spec.get("optional", False),
            computed=spec.get("computed", False),
        )
        for name, spec in sorted(block.get("attributes", {}).items())
    ]


def _nested(block: dict[str, Any]) -> list[NestedBlock]:
    return [StubBlock(name, spec) for name, spec in sorted(block.get("block_types", {}).items())]


def _block(block: dict[str, Any]) -> Block:
    return Block(attributes=_attributes(block), block_types=_nested(block))


def _schema(block: dict[str, Any]) -> Schema:
    return Schema(version=0, attributes=_attributes(block), block_types=_nested(block))


class _FromSchema:
    """A resource or data source type described only by its extracted schema block."""

    type_name = ""
    block: ClassVar[dict[str, Any]] = {}

    def __init__(self, provider: Provider):
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return cls.type_name

    @classmethod
    def get_schema(cls) -> Schema:
        return _schema(cls.block)


class _StubResource(_FromSchema, Resource):
    def _refuse(self, ctx: Any) -> None:
        ctx.diagnostics.add_error(f"{ctx.type_name}: {_REFUSAL}")

    def create(self, ctx, planned: State) -> State | None:
        self._refuse(ctx)
        return None

    def read(self, ctx, current: State) -> State | None:
        self._refuse(ctx)
        return None

    def update(self, ctx, current: State, planned: State) -> State | None:
        self._refuse(ctx)
        return None

    def delete(self, ctx, current: State) -> None:
        self._refuse(ctx)


class _StubDataSource(_FromSchema, DataSource):
    def read(self, ctx, config: Config) -> State | None:
        ctx.diagnostics.add_error(f"{ctx.type_name}: {_REFUSAL}")
        return None


def _classes(base: type, schemas: dict[str, Any]) -> list[type]:
    return [
        type(name, (base,), {"type_name": name, "block": spec["block"]})
        for name, spec in sorted(schemas.items())
    ]


class SnowflakeSchemaProvider(Provider):
    def __init__(self, schema: dict[str, Any]):
        self.schema = schema

    def get_model_prefix(self) -> str:
        return ""  # the schema's type names already carry the "snowflake_" prefix

    def full_name(self) -> str:
        return "registry.terraform.io/snowflakedb/snowflake"

    def get_provider_schema(self, diags: Diagnostics) -> Schema:
        return _schema(self.schema["provider"]["block"])

    def validate_config(self, diags: Diagnostics, config: Config) -> None:
        return None

    def configure_provider(self, diags: Diagnostics, config: Config) -> None:
        return None

    def get_data_sources(self) -> list[type[DataSource]]:
        return _classes(_StubDataSource, self.schema["data_source_schemas"])

    def get_resources(self) -> list[type[Resource]]:
        return _classes(_StubResource, self.schema["resource_schemas"])


def main() -> None:
    with open(sys.argv[1]) as schema_file:
        schema = json.load(schema_file)
    runner.run_provider(SnowflakeSchemaProvider(schema), sys.argv[:1] + sys.argv[2:])


if __name__ == "__main__":
    main()
