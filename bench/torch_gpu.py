"""PyTorch with a CUDA GPU, for the bench scripts that time kernels through it."""
import sys


def torch_on_gpu():
    """The torch module when PyTorch is installed and sees a CUDA GPU; else None, with one line on stderr
    saying which is missing (the scripts then exit 3, as `headroom measure` does without a GPU)."""
    try:
        import torch
    except ImportError:
        print("error: PyTorch is not installed here (the GPU machine has it)", file=sys.stderr)
        return None
    if not torch.cuda.is_available():
        print("error: no CUDA GPU for PyTorch", file=sys.stderr)
        return None
    return torch
