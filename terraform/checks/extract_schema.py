"""Rebuild the Snowflake provider's Terraform schema from a CDK binding's .jsii assembly.

The cdktf/cdktn provider bindings on PyPI are generated from `terraform providers schema -json`
of one exact provider version and keep, for every resource, data source and nested block, each
argument's Terraform name (in its registry link), type and required flag. This script writes
that back out in the shape of `terraform providers schema -json` (one provider's part of it),
so that a schema-only stub provider can serve it to a real `terraform validate`.

Usage: python extract_schema.py WHEEL_OR_JSII OUT.json
"""

from __future__ import annotations

import io
import json
import re
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

_LINK_TYPE_NAME = re.compile(r"\{@link \S+/docs/(?:resources|data-sources)/\S+ (\w+)\}")
_LINK_ATTR_NAME = re.compile(r"\{@link \S+#(\w+) \S+\}")
_PROVIDER_VERSION = re.compile(r"snowflake/(\d+\.\d+\.\d+)/docs")
_PREVIEW_FEATURES = re.compile(r"Preview features that can be enabled are: ([^.]*)\.")
# Terraform meta-arguments the CDK adds to every provider/resource config struct.
_META_ARGUMENTS = {"alias"}


def load_assembly(path: Path) -> dict[str, Any]:
    """Read the .jsii assembly from a wheel, a .jsii.tgz or a plain .jsii file."""
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            name = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
            return _from_tgz(wheel.read(name))
    if path.name.endswith(".tgz"):
        return _from_tgz(path.read_bytes())
    return json.loads(path.read_text())


def _from_tgz(data: bytes) -> dict[str, Any]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tgz:
        member = tgz.extractfile("package/.jsii")
        assert member is not None
        return json.load(member)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _attr_name(prop: dict[str, Any]) -> str:
    docs = prop.get("docs", {})
    match = _LINK_ATTR_NAME.search(docs.get("remarks", "") + docs.get("summary", ""))
    return match.group(1) if match else _snake(prop["name"])


def _description(prop: dict[str, Any]) -> str:
    docs = prop.get("docs", {})
    text = f"{docs.get('summary', '')} {docs.get('remarks', '')}"
    return re.sub(r"\s*Docs at Terraform Registry: \{@link [^}]*\}\.?", "", text).strip()


class Converter:
    def __init__(self, assembly: dict[str, Any]):
        self.types: dict[str, Any] = assembly["types"]

    def _primitive(self, t: dict[str, Any]) -> Any | None:
        """Terraform type of a jsii type reference, or None when it is a nested block."""
        if "primitive" in t:
            return {"string": "string", "number": "number", "boolean": "bool"}.get(
                t["primitive"], "dynamic"
            )
        if "union" in t:
            members = [m for m in t["union"]["types"] if m.get("fqn") != "cdktn.IResolvable"]
            members = [m for m in members if m.get("fqn") != "cdktf.IResolvable"]
            return self._primitive(members[0]) if len(members) == 1 else "dynamic"
        if "collection" in t:
            element = self._primitive(t["collection"]["elementtype"])
            if element is None:
                return None
            kind = "map" if t["collection"]["kind"] == "map" else "list"
            return [kind, element]
        if "fqn" in t and self.types.get(t["fqn"], {}).get("datatype"):
            return None  # a struct: nested block
        return "dynamic"

    def _block_of(self, t: dict[str, Any]) -> tuple[str, int | None] | None:
        """(struct fqn, max_items) when the type reference is a nested block."""
        if "union" in t:
            for member in t["union"]["types"]:
                found = self._block_of(member)
                if found:
                    return found
            return None
        if "collection" in t:
            found = self._block_of(t["collection"]["elementtype"])
            return (found[0], None) if found else None
        if "fqn" in t and self.types.get(t["fqn"], {}).get("datatype"):
            return (t["fqn"], 1)
        return None

    def block(self, struct_fqn: str, computed_from: str | None = None) -> dict[str, Any]:
        struct = self.types[struct_fqn]
        attributes: dict[str, Any] = {}
        block_types: dict[str, Any] = {}
        for prop in struct.get("properties", []):
            name = _attr_name(prop)
            if name in _META_ARGUMENTS:
                continue
            nested = self._block_of(prop["type"])
            if nested and self._primitive(prop["type"]) is None:
                fqn, max_items = nested
                entry: dict[str, Any] = {"nesting_mode": "list", "block": self.block(fqn)}
                if max_items:
                    entry["max_items"] = max_items
                if not prop.get("optional"):
                    entry["min_items"] = 1
                block_types[name] = entry
                continue
            attr: dict[str, Any] = {"type": self._primitive(prop["type"])}
            if prop.get("optional"):
                attr["optional"] = True
            else:
                attr["required"] = True
            if name == "id":
                attr["computed"] = True
            description = _description(prop)
            if description:
                attr["description"] = description
            attributes[name] = attr
        if computed_from:
            arguments = {prop["name"] for prop in struct.get("properties", [])}
            self._add_computed(computed_from, arguments, attributes)
        result: dict[str, Any] = {"attributes": attributes}
        if block_types:
            result["block_types"] = block_types
        return result

    def _add_computed(self, class_fqn: str, arguments: set[str], attributes: dict) -> None:
        """Read-only attributes: getters of the resource class that are not config arguments."""
        for prop in self.types[class_fqn].get("properties", []):
            if prop.get("static") or prop["name"].endswith("Input") or prop["name"] in arguments:
                continue
            name = _snake(prop["name"])
            kind = self._primitive(prop["type"])
            attributes[name] = {"type": kind or "dynamic", "computed": True}

    def _preview_features(self, provider_config_fqn: str) -> list[str]:
        """Resources still in preview (opt-in through preview_features_enabled), e.g.
        "snowflake_table_resource"; a stable configuration should use none of them."""
        for prop in self.types[provider_config_fqn].get("properties", []):
            if prop["name"] == "previewFeaturesEnabled":
                match = _PREVIEW_FEATURES.search(prop["docs"].get("remarks", ""))
                return re.findall(r"`(\w+)`", match.group(1)) if match else []
        return []

    def provider(self) -> dict[str, Any]:
        schemas: dict[str, Any] = {"resource_schemas": {}, "data_source_schemas": {}}
        version = None
        for fqn, t in self.types.items():
            if t.get("kind") != "class" or "initializer" not in t:
                continue
            base = t.get("base", "")
            params = t["initializer"].get("parameters", [])
            config = next((p["type"]["fqn"] for p in params if p["name"] == "config"), None)
            if base.endswith(".TerraformProvider"):
                schemas["provider"] = {"version": 0, "block": self.block(config)}
                schemas["preview_features"] = self._preview_features(config)
                continue
            if base.endswith(".TerraformResource"):
                group = "resource_schemas"
            elif base.endswith(".TerraformDataSource"):
                group = "data_source_schemas"
            else:
                continue
            summary = t.get("docs", {}).get("summary", "")
            match = _LINK_TYPE_NAME.search(summary)
            if not match or config is None:
                continue
            version = version or _PROVIDER_VERSION.search(summary).group(1)
            schemas[group][match.group(1)] = {
                "version": 0,
                "block": self.block(config, computed_from=fqn),
            }
        schemas["provider_version"] = version
        return schemas


def main() -> None:
    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    schema = Converter(load_assembly(source)).provider()
    out.write_text(json.dumps(schema, indent=1, sort_keys=True))
    print(
        f"provider {schema['provider_version']}: {len(schema['resource_schemas'])} resources, "
        f"{len(schema['data_source_schemas'])} data sources -> {out}"
    )


if __name__ == "__main__":
    main()
