"""Exports diffusers-style attention blocks with torch.onnx.export, for the graph optimizer's tests.

The modules are written here in plain torch (no diffusers or transformers package) in the forms
diffusers' UNet and VAE and transformers' CLIP text encoder take, so the optimizer is proven on
what the exporter itself writes for them.

The SDPA blocks (diffusers' AttnProcessor2_0, F.scaled_dot_product_attention) are exported only
where torch has it (2.0 on); Debian's torch 1.13 leaves them out of the manifest. Where
torch.onnx.export takes `dynamo` (2.5 on; its default from 2.9), the TorchScript exporter is
asked for, or the dynamo one with DTS_TORCH_DYNAMO=1.

Usage: /usr/bin/python3 attention_blocks.py OUT_DIR
Writes OUT_DIR/<name>.fp32.onnx, <name>.fp16.onnx and <name>.inferred.onnx (fp32 with value_info), plus OUT_DIR/manifest.json describing each
model's inputs, how many attentions it holds and whether the optimizer must fuse them, and how many
GroupNorms the CUDA target must fuse (and how many of them as SkipGroupNorm). Each block with attention is also
exported with dynamic axes, as the manifest entry <name>.dynamic (files <name>.dynamic.*.onnx, its axes under 'dynamic').
"""
import inspect
import json
import math
import os
import sys

import onnx
from onnx import numpy_helper
import torch
from torch import nn
import torch.nn.functional as F

BATCH, TOKENS, WIDTH, HEADS = 2, 16, 64, 4
CONTEXT_TOKENS, CONTEXT_WIDTH = 7, 48
SD_TOKENS, SD_WIDTH = 8, 320


class ClassicAttention(nn.Module):
    """diffusers' AttnProcessor: heads folded into the batch, scores by baddbmm (or matmul + scale)."""

    def __init__(self, query_dim, context_dim=None, heads=HEADS, baddbmm=True, bias=False):
        super().__init__()
        context_dim = context_dim or query_dim
        self.heads = heads
        self.scale = (query_dim // heads) ** -0.5
        self.baddbmm = baddbmm
        self.to_q = nn.Linear(query_dim, query_dim, bias=bias)
        self.to_k = nn.Linear(context_dim, query_dim, bias=bias)
        self.to_v = nn.Linear(context_dim, query_dim, bias=bias)
        self.to_out = nn.Linear(query_dim, query_dim)

    def head_to_batch_dim(self, tensor):
        batch, length, dim = tensor.shape
        tensor = tensor.reshape(batch, length, self.heads, dim // self.heads)
        return tensor.permute(0, 2, 1, 3).reshape(batch * self.heads, length, dim // self.heads)

    def batch_to_head_dim(self, tensor):
        batch, length, dim = tensor.shape
        tensor = tensor.reshape(batch // self.heads, self.heads, length, dim)
        return tensor.permute(0, 2, 1, 3).reshape(batch // self.heads, length, dim * self.heads)

    def forward(self, x, context=None):
        context = x if context is None else context
        q = self.head_to_batch_dim(self.to_q(x))
        k = self.head_to_batch_dim(self.to_k(context))
        v = self.head_to_batch_dim(self.to_v(context))
        if self.baddbmm:
            # diffusers passes torch.empty with beta=0; zeros keep the export deterministic.
            base = torch.zeros(q.shape[0], q.shape[1], k.shape[1], dtype=q.dtype)
            scores = torch.baddbmm(base, q, k.transpose(-1, -2), beta=0, alpha=self.scale)
        else:
            scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale
        probs = scores.softmax(dim=-1)
        return self.to_out(self.batch_to_head_dim(torch.bmm(probs, v)))


class SplitScaleAttention(nn.Module):
    """The scale applied to q and to k separately (headDim^-0.25 each), heads in the batch."""

    def __init__(self, query_dim, heads=HEADS):
        super().__init__()
        self.heads = heads
        self.head_dim = query_dim // heads
        self.to_q = nn.Linear(query_dim, query_dim)
        self.to_k = nn.Linear(query_dim, query_dim)
        self.to_v = nn.Linear(query_dim, query_dim)

    def split(self, t):
        b, n, _ = t.shape
        return t.reshape(b, n, self.heads, self.head_dim).permute(0, 2, 1, 3).reshape(b * self.heads, n, self.head_dim)

    def forward(self, x):
        b, n, c = x.shape
        scale = 1 / math.sqrt(math.sqrt(self.head_dim))
        q, k, v = self.split(self.to_q(x)), self.split(self.to_k(x)), self.split(self.to_v(x))
        weight = torch.softmax(torch.bmm(q * scale, (k * scale).transpose(1, 2)), dim=-1)
        out = torch.bmm(weight, v)
        return out.reshape(b, self.heads, n, self.head_dim).permute(0, 2, 1, 3).reshape(b, n, c)


class FourDAttention(nn.Module):
    """Heads as a 4th axis, F.softmax(q @ k^T / sqrt(d)) @ v as scaled_dot_product_attention spells it."""

    def __init__(self, query_dim, context_dim=None, heads=HEADS):
        super().__init__()
        context_dim = context_dim or query_dim
        self.heads = heads
        self.to_q = nn.Linear(query_dim, query_dim, bias=False)
        self.to_k = nn.Linear(context_dim, query_dim, bias=False)
        self.to_v = nn.Linear(context_dim, query_dim, bias=False)
        self.to_out = nn.Linear(query_dim, query_dim)

    def forward(self, x, context=None):
        context = x if context is None else context
        b, n, c = x.shape
        d = c // self.heads
        q = self.to_q(x).view(b, -1, self.heads, d).transpose(1, 2)
        k = self.to_k(context).view(b, -1, self.heads, d).transpose(1, 2)
        v = self.to_v(context).view(b, -1, self.heads, d).transpose(1, 2)
        probs = F.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)
        out = (probs @ v).transpose(1, 2).reshape(b, -1, self.heads * d)
        return self.to_out(out)


class SdpaAttention(FourDAttention):
    """diffusers' AttnProcessor2_0: FourDAttention's projections, F.scaled_dot_product_attention (torch >= 2.0),
    which torch 2.x's exporters lower with the scale computed from the query's shape at run time."""

    def forward(self, x, context=None, mask=None):
        context = x if context is None else context
        b = context.shape[0]
        d = self.to_k.out_features // self.heads
        q = self.to_q(x).view(b, -1, self.heads, d).transpose(1, 2)
        k = self.to_k(context).view(b, -1, self.heads, d).transpose(1, 2)
        v = self.to_v(context).view(b, -1, self.heads, d).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0, is_causal=False)
        return self.to_out(out.transpose(1, 2).reshape(b, -1, self.heads * d))


class SdpaMaskedAttention(nn.Module):
    """SDPA self-attention with the caller's additive float mask [B, 1, S, S]."""

    def __init__(self, dim):
        super().__init__()
        self.inner = SdpaAttention(dim)

    def forward(self, x, mask):
        return self.inner(x, None, mask)


class CausalSelfAttention(nn.Module):
    """CLIP's text-encoder self-attention, as transformers' CLIPAttention masks it: the additive
    causal mask (torch.triu of a finfo.min matrix, broadcast over the batch) added to the scaled
    scores. Heads as a 4th axis; with mask_input the mask is the caller's [B, 1, S, S] tensor."""

    def __init__(self, dim, heads=HEADS, mask_input=False):
        super().__init__()
        self.heads = heads
        self.mask_input = mask_input
        self.scale = (dim // heads) ** -0.5
        self.q_proj, self.k_proj, self.v_proj = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x, mask=None):
        b, n, c = x.shape
        d = c // self.heads
        q = self.q_proj(x).view(b, n, self.heads, d).transpose(1, 2)
        k = self.k_proj(x).view(b, n, self.heads, d).transpose(1, 2)
        v = self.v_proj(x).view(b, n, self.heads, d).transpose(1, 2)
        if not self.mask_input:
            mask = torch.full((n, n), torch.finfo(x.dtype).min, dtype=x.dtype).triu(1)[None, None].expand(b, 1, n, n)
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale + mask
        probs = F.softmax(scores, dim=-1)
        return self.out_proj((probs @ v).transpose(1, 2).reshape(b, n, c))


class ClipLayer(nn.Module):
    """One CLIP encoder layer: pre-LN causal self-attention, quick-GELU MLP; a padding mask, when
    given, passed on to the attention."""

    def __init__(self, dim, attention=None):
        super().__init__()
        self.layer_norm1, self.layer_norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.self_attn = (attention or CausalSelfAttention)(dim)
        self.fc1, self.fc2 = nn.Linear(dim, dim * 4), nn.Linear(dim * 4, dim)

    def forward(self, x, attention_mask=None):
        x = self.self_attn(self.layer_norm1(x), attention_mask) + x
        h = self.fc1(self.layer_norm2(x))
        return self.fc2(h * torch.sigmoid(1.702 * h)) + x


class TransformersClipAttention(nn.Module):
    """CLIP's self-attention in the layout transformers' CLIPAttention (eager, 4.2x-4.4x) writes,
    which optimum's export gives: q scaled on the 3-D projection before the head split, heads
    folded into the batch for bmm, and each mask added in a [B, h, S, S] view of the scores
    between two Reshapes. The causal mask is built as transformers builds it (finfo.min off a
    masked_fill over an arange comparison, expanded over the batch); a padding attention_mask
    [B, 1, S, S], when given, is added after it the same way."""

    def __init__(self, dim, heads=HEADS):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim ** -0.5
        self.q_proj, self.k_proj, self.v_proj = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def split(self, t, length, b):
        return t.view(b, length, self.heads, self.head_dim).transpose(1, 2).contiguous()

    def causal_mask(self, b, n, dtype):
        mask = torch.full((n, n), torch.finfo(dtype).min)
        cond = torch.arange(mask.size(-1))
        mask.masked_fill_(cond < (cond + 1).view(mask.size(-1), 1), 0)
        return mask.to(dtype)[None, None, :, :].expand(b, 1, n, n)

    def forward(self, x, attention_mask=None):
        b, n, c = x.size()
        q = self.q_proj(x) * self.scale
        k = self.split(self.k_proj(x), -1, b)
        v = self.split(self.v_proj(x), -1, b)
        folded = (b * self.heads, -1, self.head_dim)
        q = self.split(q, n, b).view(*folded)
        k, v = k.view(*folded), v.view(*folded)
        s = k.size(1)
        scores = torch.bmm(q, k.transpose(1, 2))
        scores = scores.view(b, self.heads, n, s) + self.causal_mask(b, n, x.dtype)
        scores = scores.view(b * self.heads, n, s)
        if attention_mask is not None:
            scores = scores.view(b, self.heads, n, s) + attention_mask
            scores = scores.view(b * self.heads, n, s)
        probs = F.softmax(scores, dim=-1)
        out = torch.bmm(probs, v).view(b, self.heads, n, self.head_dim).transpose(1, 2).reshape(b, n, c)
        return self.out_proj(out)


class BiasedAttention(nn.Module):
    """Scores plus a learned [S, 1] bias, a row offset and no mask: softmax ignores it, but it is
    not an attention_bias of the shape MultiHeadAttention takes, so it must stay plain."""

    def __init__(self, dim, heads=HEADS):
        super().__init__()
        self.inner = CausalSelfAttention(dim, heads, mask_input=True)
        self.row_bias = nn.Parameter(torch.randn(2, 1, TOKENS, 1))

    def forward(self, x):
        return self.inner(x, self.row_bias)


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x):
        hidden, gate = self.proj(x).chunk(2, dim=-1)
        return hidden * F.gelu(gate)


class GegluVariant(nn.Module):
    """GEGLU as diffusers writes it ('exact'), and near misses BiasSplitGelu must not take: the GELU
    on the first half, the tanh-approximate GELU, and a gate that something else reads too."""

    def __init__(self, dim, inner, variant='exact'):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)
        self.variant = variant

    def forward(self, x):
        hidden, gate = self.proj(x).chunk(2, dim=-1)
        if self.variant == 'gate-first':
            return F.gelu(hidden) * gate
        if self.variant == 'tanh':
            return hidden * F.gelu(gate, approximate='tanh')
        if self.variant == 'gate-read':
            return hidden * F.gelu(gate) + gate
        return hidden * F.gelu(gate)


class FeedForwardBlock(nn.Module):
    """BasicTransformerBlock's last part: x + ff(norm3(x)), the GEGLU projecting to 2 * 4 * dim."""

    def __init__(self, dim, variant='exact'):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.ff = nn.Sequential(GegluVariant(dim, dim * 4, variant), nn.Linear(dim * 4, dim))

    def forward(self, x):
        return self.ff(self.norm(x)) + x


class LinearResidual(nn.Module):
    """proj(x) + skip, as BiasAdd computes it; near misses: a skip broadcast over the batch
    ([1, S, C] given by the caller), and the biased projection also read by something else."""

    def __init__(self, dim, variant='plain'):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.variant = variant

    def forward(self, x, skip):
        h = self.proj(x)
        return (h + skip) * h if self.variant == 'sum-read' else h + skip


class ResidualNorm(nn.Module):
    """LayerNorm(x + skip), the sum read by nothing else; a near miss with skip broadcast over the batch."""

    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x, skip):
        return self.norm(x + skip)


class TransformerBlock(nn.Module):
    """diffusers' BasicTransformerBlock: self-attention, cross-attention, GEGLU feed-forward."""

    def __init__(self, dim, context_dim, attention=ClassicAttention):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn1 = attention(dim)
        self.attn2 = attention(dim, context_dim)
        self.ff = nn.Sequential(GEGLU(dim, dim * 4), nn.Linear(dim * 4, dim))

    def forward(self, x, context):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x


class VaeMidAttention(nn.Module):
    """The VAE mid-block's single-head attention over [B, C, H, W] as tokens [B, HW, C]."""

    def __init__(self, channels):
        super().__init__()
        self.group_norm = nn.GroupNorm(8, channels)
        self.attn = ClassicAttention(channels, heads=1, baddbmm=True, bias=True)

    def forward(self, x):
        b, c, h, w = x.shape
        tokens = self.group_norm(x).view(b, c, h * w).transpose(1, 2)
        out = self.attn(tokens).transpose(-1, -2).reshape(b, c, h, w)
        return out + x


class ResnetBlock(nn.Module):
    """GroupNorm + SiLU + conv twice, with a skip: no attention, so only the CUDA target's GroupNorm pass touches it."""

    def __init__(self, channels, groups=8):
        super().__init__()
        self.norm1, self.norm2 = nn.GroupNorm(groups, channels), nn.GroupNorm(groups, channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        return self.conv2(F.silu(self.norm2(h))) + x


class TimeResnetBlock(nn.Module):
    """diffusers' UNet ResnetBlock2D: the projected time embedding added after the first conv, broadcast over H and W."""

    def __init__(self, channels, groups, temb_width):
        super().__init__()
        self.norm1, self.norm2 = nn.GroupNorm(groups, channels), nn.GroupNorm(groups, channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb_width, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        return self.conv2(F.silu(self.norm2(h))) + x


def tokens():
    return torch.randn(BATCH, TOKENS, WIDTH)


def context():
    return torch.randn(BATCH, CONTEXT_TOKENS, CONTEXT_WIDTH)


def sd_tokens():
    """SD 1.x's first transformer width (320 channels, so GEGLU's D = 2560), over a few tokens."""
    return torch.randn(BATCH, SD_TOKENS, SD_WIDTH)


def causal_mask():
    return torch.full((TOKENS, TOKENS), torch.finfo(torch.float32).min).triu(1)[None, None].expand(BATCH, 1, TOKENS, TOKENS).contiguous()


def padding_mask():
    """transformers' expanded padding mask: [B, 1, S, S], finfo.min on the padded keys of each row."""
    mask = torch.zeros(BATCH, 1, TOKENS, TOKENS)
    mask[1, :, :, TOKENS - 3:] = torch.finfo(torch.float32).min
    return mask


def feature_map(channels=32):
    return torch.randn(BATCH, channels, 4, 4)


# name: (module, example inputs, input names, attentions it holds)
BLOCKS = {
    'classic-baddbmm': (lambda: TransformerBlock(WIDTH, CONTEXT_WIDTH), lambda: (tokens(), context()), ['x', 'context'], 2),
    'classic-matmul': (lambda: TransformerBlock(WIDTH, CONTEXT_WIDTH, lambda *a: ClassicAttention(*a, baddbmm=False)), lambda: (tokens(), context()), ['x', 'context'], 2),
    'split-scale': (lambda: SplitScaleAttention(WIDTH), lambda: (tokens(),), ['x'], 1),
    'four-d': (lambda: TransformerBlock(WIDTH, CONTEXT_WIDTH, FourDAttention), lambda: (tokens(), context()), ['x', 'context'], 2),
    'vae-mid': (lambda: VaeMidAttention(32), lambda: (feature_map(),), ['x'], 1),
    'resnet': (lambda: ResnetBlock(32), lambda: (feature_map(),), ['x'], 0),
    # SD's own width and group count (320 channels, 32 groups of 10).
    'resnet-320': (lambda: ResnetBlock(320, groups=32), lambda: (feature_map(320),), ['x'], 0),
    'resnet-temb': (lambda: TimeResnetBlock(64, 32, CONTEXT_WIDTH), lambda: (feature_map(64), torch.randn(BATCH, CONTEXT_WIDTH)), ['x', 'temb'], 0),
    # 11 channels per group: ORT's CUDA GroupNorm takes an even count only, so these must stay plain.
    'resnet-odd-groups': (lambda: ResnetBlock(33, groups=3), lambda: (feature_map(33),), ['x'], 0),
    'clip-causal': (lambda: ClipLayer(WIDTH), lambda: (tokens(),), ['x'], 1),
    'clip-mask-input': (lambda: CausalSelfAttention(WIDTH, mask_input=True), lambda: (tokens(), causal_mask()), ['x', 'mask'], 1),
    'clip-transformers': (lambda: ClipLayer(WIDTH, TransformersClipAttention), lambda: (tokens(),), ['x'], 1),
    'clip-transformers-padded': (lambda: ClipLayer(WIDTH, TransformersClipAttention), lambda: (tokens(), padding_mask()), ['x', 'attention_mask'], 1),
    # At SD's widths, for the bias/GEGLU/residual passes (their CUDA kernels take only SD's sizes).
    'transformer-320': (lambda: TransformerBlock(SD_WIDTH, CONTEXT_WIDTH, FourDAttention), lambda: (sd_tokens(), context()), ['x', 'context'], 2),
    'geglu-320': (lambda: FeedForwardBlock(SD_WIDTH), lambda: (sd_tokens(),), ['x'], 0),
    'geglu-320-gate-first': (lambda: FeedForwardBlock(SD_WIDTH, 'gate-first'), lambda: (sd_tokens(),), ['x'], 0),
    'geglu-320-tanh': (lambda: FeedForwardBlock(SD_WIDTH, 'tanh'), lambda: (sd_tokens(),), ['x'], 0),
    'geglu-320-gate-read': (lambda: FeedForwardBlock(SD_WIDTH, 'gate-read'), lambda: (sd_tokens(),), ['x'], 0),
    # Batch and token count symbolic, as diffusers' UNet exports have them.
    'geglu-320-dynamic': (lambda: FeedForwardBlock(SD_WIDTH), lambda: (sd_tokens(),), ['x'], 0),
    'linear-residual-320': (lambda: LinearResidual(SD_WIDTH), lambda: (sd_tokens(), sd_tokens()), ['x', 'skip'], 0),
    'linear-residual-320-broadcast': (lambda: LinearResidual(SD_WIDTH), lambda: (sd_tokens(), sd_tokens()[:1]), ['x', 'skip'], 0),
    'linear-residual-320-sum-read': (lambda: LinearResidual(SD_WIDTH, 'sum-read'), lambda: (sd_tokens(), sd_tokens()), ['x', 'skip'], 0),
    'residual-norm': (lambda: ResidualNorm(WIDTH), lambda: (tokens(), tokens()), ['x', 'skip'], 0),
    'residual-norm-broadcast': (lambda: ResidualNorm(WIDTH), lambda: (tokens(), tokens()[:1]), ['x', 'skip'], 0),
}

# F.scaled_dot_product_attention exists from torch 2.0 on: on Debian's torch 1.13 these blocks are left out.
if hasattr(F, 'scaled_dot_product_attention'):
    BLOCKS['sdpa'] = (lambda: TransformerBlock(WIDTH, CONTEXT_WIDTH, SdpaAttention), lambda: (tokens(), context()), ['x', 'context'], 2)
    BLOCKS['sdpa-mask-input'] = (lambda: SdpaMaskedAttention(WIDTH), lambda: (tokens(), causal_mask()), ['x', 'mask'], 1)

DYNAMIC_AXES = {
    'geglu-320-dynamic': {'x': {0: 'batch', 1: 'tokens'}, 'out': {0: 'batch', 1: 'tokens'}},
}

# Blocks whose GroupNorms get random gamma and beta, so a parity test sees them wired per channel;
# the rest keep torch's ones and zeros, which the exporter shares between norms through an Identity.
RANDOM_AFFINE = {'vae-mid', 'resnet-320', 'resnet-temb'}

# How many GroupNorms the CUDA target must fuse in each block (none elsewhere).
GROUP_NORMS = {'vae-mid': 1, 'resnet': 2, 'resnet-320': 2, 'resnet-temb': 2}
# How many of those take the Add before them in as SkipGroupNorm (the time embedding's).
SKIP_GROUP_NORMS = {'resnet-temb': 1}

# Attentions with an addend that is not a mask MultiHeadAttention can take: they must stay plain.
PLAIN_BLOCKS = {
    'biased-rows': (lambda: BiasedAttention(WIDTH), lambda: (tokens(),), ['x'], 1),
}


def run_time_axes(names, inputs):
    """Batch and token axes (height and width for a feature map) left to run time, as optimum's
    and diffusers' exports leave them: each Reshape spec is then computed from Shape."""
    def axes(name, rank):
        if name == 'context':
            return {0: 'batch', 1: 'context_tokens'}
        if name in ('mask', 'attention_mask'):
            return {0: 'batch', 2: 'tokens', 3: 'tokens'}
        return {0: 'batch', 1: 'tokens'} if rank == 3 else {0: 'batch', 2: 'height', 3: 'width'}
    named = {n: axes(n, t.dim()) for n, t in zip(names, inputs)}
    return {**named, 'out': named[names[0]]}


def export(module, inputs, names, path, dynamic_axes=None):
    # torch >= 2.5 takes `dynamo` (and from 2.9 defaults it to True): the TorchScript exporter unless DTS_TORCH_DYNAMO=1.
    options = {}
    if 'dynamo' in inspect.signature(torch.onnx.export).parameters:
        options['dynamo'] = os.environ.get('DTS_TORCH_DYNAMO') == '1'
    torch.onnx.export(module, inputs, path, input_names=names, output_names=['out'], opset_version=17, do_constant_folding=True, dynamic_axes=dynamic_axes, **options)


def to_half(src, dst):
    """The whole graph in float16, as `optimum-cli export onnx --fp16` gives it.

    torch 1.13 cannot trace these blocks in half precision on the CPU (no half LayerNorm,
    GroupNorm or addmm kernels), so the float32 export is converted: every float tensor,
    input, output and Cast target becomes float16.
    """
    model = onnx.load(src)
    graph = model.graph
    FLOAT, HALF = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16

    def half_tensor(tensor):
        if tensor.data_type == FLOAT:
            tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor).astype('float16'), tensor.name))

    for tensor in graph.initializer:
        half_tensor(tensor)
    for node in graph.node:
        for attribute in node.attribute:
            # ConstantOfShape's fill too: a dynamic-axes export builds baddbmm's zero base with it.
            if attribute.name == 'value' and node.op_type in ('Constant', 'ConstantOfShape'):
                half_tensor(attribute.t)
            if node.op_type == 'Cast' and attribute.name == 'to' and attribute.i == FLOAT:
                attribute.i = HALF
    for info in list(graph.input) + list(graph.output):
        if info.type.tensor_type.elem_type == FLOAT:
            info.type.tensor_type.elem_type = HALF
    onnx.save(model, dst)


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    manifest = []
    every = [(name, block, True) for name, block in BLOCKS.items()] + [(name, block, False) for name, block in PLAIN_BLOCKS.items()]
    for name, (make, example, names, attentions), fuses in every:
        module = make().eval()
        if name in RANDOM_AFFINE:
            for norm in (m for m in module.modules() if isinstance(m, nn.GroupNorm)):
                nn.init.normal_(norm.weight, 1.0, 0.5)
                nn.init.normal_(norm.bias, 0.0, 0.5)
        inputs = example()
        fp32 = os.path.join(out_dir, f'{name}.fp32.onnx')
        export(module, inputs, names, fp32, DYNAMIC_AXES.get(name))
        entry = {'name': name, 'inputs': {n: list(t.shape) for n, t in zip(names, inputs)}, 'attentions': attentions, 'fuses': fuses, 'groupNorms': GROUP_NORMS.get(name, 0), 'skipGroupNorms': SKIP_GROUP_NORMS.get(name, 0), 'files': {'float32': fp32}}
        fp16 = os.path.join(out_dir, f'{name}.fp16.onnx')
        to_half(fp32, fp16)
        entry['files']['float16'] = fp16
        # What onnx's shape inference (or an optimizer run before ours) leaves: value_info on every value.
        inferred = os.path.join(out_dir, f'{name}.inferred.onnx')
        onnx.save(onnx.shape_inference.infer_shapes(onnx.load(fp32)), inferred)
        entry['files']['inferred'] = inferred
        manifest.append(entry)
        if attentions > 0:
            # The same module exported with dynamic axes, so its Reshape specs are computed from Shape.
            dynamic = os.path.join(out_dir, f'{name}.dynamic.fp32.onnx')
            export(module, inputs, names, dynamic, run_time_axes(names, inputs))
            dynamic16 = os.path.join(out_dir, f'{name}.dynamic.fp16.onnx')
            to_half(dynamic, dynamic16)
            inferred = os.path.join(out_dir, f'{name}.dynamic.inferred.onnx')
            onnx.save(onnx.shape_inference.infer_shapes(onnx.load(dynamic)), inferred)
            files = {'float32': dynamic, 'float16': dynamic16, 'inferred': inferred}
            manifest.append({**entry, 'name': f'{name}.dynamic', 'dynamic': run_time_axes(names, inputs), 'files': files})
    with open(os.path.join(out_dir, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1)


if __name__ == '__main__':
    with torch.no_grad():
        main()
