"""Layers: the data dictionary, importing real city data, validation and the twin file.

Examples
--------
>>> from twin.layers import layer_names
>>> layer_names()[:3]
['zones', 'roads', 'road_nodes']
"""

from twin.layers.api import init_twin, layer_info, list_layers
from twin.layers.edit import edit_layer, revert
from twin.layers.history import checkout, diff, log
from twin.layers.schemas import layer_names, layer_spec
from twin.layers.store import Twin, read_layer, read_twin, write_twin

__all__ = [
    "Twin",
    "checkout",
    "diff",
    "edit_layer",
    "init_twin",
    "layer_info",
    "layer_names",
    "layer_spec",
    "list_layers",
    "log",
    "read_layer",
    "read_twin",
    "revert",
    "write_twin",
]
