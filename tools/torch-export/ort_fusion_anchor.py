"""What ONNX Runtime's own offline optimizer fuses in each exported block: the anchor bench/gpu
compares dts-util's graph optimizer against, on the GPU machine (whose Python venv has
onnxruntime with its `onnxruntime.transformers` package; these development machines do not).

Usage: python3 ort_fusion_anchor.py BLOCKS_DIR
Reads BLOCKS_DIR/manifest.json (attention_blocks.py) and prints one JSON line per block and
dtype: {"block", "dtype", "fused": {op: count}} with the com.microsoft ops ORT's UNet optimizer
(model type 'unet', GPU fusions on, no ORT graph-level passes) put in the graph, or "error".
"""
import collections
import json
import os
import sys


def contrib_ops(model):
    counts = collections.Counter(node.op_type for node in model.graph.node if node.domain == 'com.microsoft')
    return dict(sorted(counts.items()))


def main():
    blocks_dir = sys.argv[1]
    try:
        from onnxruntime.transformers.optimizer import optimize_model
    except ImportError as error:
        print(json.dumps({'error': f'onnxruntime.transformers is not importable: {error}'}))
        return
    with open(os.path.join(blocks_dir, 'manifest.json')) as f:
        blocks = json.load(f)
    for block in blocks:
        for dtype in ('float32', 'float16'):
            path = os.path.join(blocks_dir, os.path.basename(block['files'][dtype]))
            try:
                # opt_level 0: only the Python fusions, as dts-util's optimizer is compared with them before
                # ORT's own session-time passes (which run after either).
                optimized = optimize_model(path, model_type='unet', opt_level=0, use_gpu=True)
                print(json.dumps({'block': block['name'], 'dtype': dtype, 'fused': contrib_ops(optimized.model)}))
            except Exception as error:  # one block's failure is its own line, not the end of the anchor
                print(json.dumps({'block': block['name'], 'dtype': dtype, 'error': str(error).split('\n')[0][:300]}))


if __name__ == '__main__':
    main()
