"""A per-layer table of any ``nn.Module``: output shapes, parameters, MACs and activation memory.

    from cnnlab import summarize
    print(summarize(model, (3, 224, 224)))

Modules, one job each:

- ``forward``: ``summarize``, one forward pass on the meta device, recorded layer by layer;
- ``table``: the ``Summary`` it returns (``LayerRow``s and totals), as text and as HTML;
- ``macs``: the MAC counter, over torch's own FLOP formulas;
- ``messages``: ``ForwardTrace``, the sentences a student reads when a model cannot take its input;
- ``replay``: the speed-up for repeated blocks (``BlockMemory``);
- ``tensors``: the tensors of a module's output.
"""

# Absolute imports, not relative ones: the grader rebuilds this package's modules from their source inside a
# student's kernel, each in a plain module, where ``from .forward import ...`` would look for cnnlab.forward.
from cnnlab.summary.forward import parse_input_shape, summarize
from cnnlab.summary.messages import ForwardTrace
from cnnlab.summary.replay import BlockMemory
from cnnlab.summary.table import (
    MEMORY_CONVENTION,
    NO_OWN_MEMORY,
    LayerRow,
    Summary,
    describe_config,
    summary_html,
)

__all__ = [
    "MEMORY_CONVENTION",
    "NO_OWN_MEMORY",
    "BlockMemory",
    "ForwardTrace",
    "LayerRow",
    "Summary",
    "describe_config",
    "parse_input_shape",
    "summarize",
    "summary_html",
]
