"""The WIT contract's records, variants and enums, as componentize-py
generates them from ``wit/`` (module ``wit_world.imports.crm_types``)."""

from wit_world.imports.crm_types import *  # noqa: F401,F403
