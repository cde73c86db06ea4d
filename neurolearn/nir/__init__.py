"""NIR bridge: snntorch <-> NIR (``.nir`` HDF5 files) with the versioned neurolearn extension.

    graph = export_to_nir(model, dt=1e-4)      # snntorch nn.Sequential -> nir.NIRGraph
    write("net.nir", graph)                    # atomic; plain nir.read loads it too
    net = import_from_nir("net.nir")           # runnable snntorch model, same outputs
"""
from neurolearn.nir.export import export_to_nir
from neurolearn.nir.graph import SUPPORTED_NODES, flatten
from neurolearn.nir.io import read, write
from neurolearn.nir.to_torch import import_from_nir

__all__ = ["export_to_nir", "import_from_nir", "read", "write", "flatten", "SUPPORTED_NODES"]
