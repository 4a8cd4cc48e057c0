"""SSFTT: spectral-spatial feature tokenisation transformer (Sun et al., IEEE TGRS 2022).

Sun, Zhao, Zheng, Wu, 'Spectral-Spatial Feature Tokenization Transformer for Hyperspectral
Image Classification', IEEE TGRS 60:5522214, 2022, doi:10.1109/TGRS.2022.3144158.
Published result: Indian Pines, 10 % of the labelled pixels drawn at random for training,
OA 98.62 %; ``benchmarks/reproduce_baselines.py --model ssftt`` checks it.

Structure (paper Fig. 1 and the authors' PyTorch code, github.com/zgr6010/HSI_SSFTT), for a
``(1, 30, 13, 13)`` patch (PCA 30, patch 13):

- Conv3d 8 x (3, 3, 3) + BN + ReLU -> (8, 28, 11, 11); channels and bands merged -> (224, 11, 11)
- Conv2d 64 x 3 x 3 + BN + ReLU -> (64, 9, 9), read as 81 pixel features of width 64
- Gaussian-weighted tokeniser: ``A = softmax_pixels(X W_a^T)`` (4 x 81), ``T = A (X W_v)``
  -> 4 semantic tokens of width 64; a learnable class token and position embeddings (5 x 64)
- one pre-norm transformer encoder layer (8 heads, MLP width 8, dropout 0.1); the authors scale
  ``q k^T`` by ``dim ** -0.5`` (not per head), kept here
- Linear(64, n_classes) on the class token.

Parameter count, 16 classes: 153,224. The often-quoted 148,488 is the same network counted
by ``torchsummary``, which sees only sub-module parameters and misses the four tensors held
directly by the network: W_a (4 x 64), W_v (64 x 64), the position embeddings (5 x 64) and the
class token (64), i.e. 4,736 parameters (153,224 - 4,736 = 148,488).

Training defaults from the authors' code: Adam, lr 1e-3, no weight decay, batch 64, 100 epochs
without early stopping (``patience = max_epochs``), no augmentation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mssfe.models.blocks import (
    PreNormEncoderLayer,
    check_min_input,
    check_patches,
    check_positive_ints,
    check_probability,
    conv_bn_relu2d,
    conv_bn_relu3d,
    conv_out_size,
    input_depth_for,
)
from mssfe.models.registry import register_model

PAPER = (
    "Sun, Zhao, Zheng, Wu, 'Spectral-Spatial Feature Tokenization Transformer for "
    "Hyperspectral Image Classification', IEEE TGRS 60:5522214, 2022, "
    "doi:10.1109/TGRS.2022.3144158"
)

#: Indian Pines, 10 % random training pixels.
PUBLISHED = {"scene": "IndianPines", "split": "random:0.1", "oa": 98.62}

TRAINING_DEFAULTS = {
    "optimizer": "adam",
    "lr": 1e-3,
    "weight_decay": 0.0,
    "batch_size": 64,
    "max_epochs": 100,
    "patience": 100,
    "scheduler": "none",
    "augment": False,
}


@dataclass(frozen=True)
class SSFTTConfig:
    """SSFTT hyper-parameters; the defaults are the authors' (``SSFTTnet()``)."""

    n_components: int | None = 30
    patch_size: int = 13
    channels3d: int = 8
    channels2d: int = 64
    n_tokens: int = 4
    dim: int = 64
    depth: int = 1
    heads: int = 8
    mlp_dim: int = 8
    dropout: float = 0.1
    emb_dropout: float = 0.1

    def __post_init__(self) -> None:
        check_positive_ints(self, "n_components", "patch_size", "channels3d", "channels2d")
        check_positive_ints(self, "n_tokens", "dim", "depth", "heads", "mlp_dim")
        check_probability(self, "dropout", "emb_dropout")


class Tokenizer(nn.Module):
    """Pixel features ``(N, P, c)`` -> ``n_tokens`` semantic tokens ``(N, L, dim)``.

    Each token is an attention-weighted sum over the P pixels of ``X W_v``; the weights are a
    softmax over pixels of ``X W_a^T``. Xavier-normal initialisation as the authors.
    """

    def __init__(self, in_features: int, n_tokens: int, dim: int) -> None:
        super().__init__()
        self.weight_a = nn.Parameter(torch.empty(1, n_tokens, in_features))
        self.weight_v = nn.Parameter(torch.empty(1, in_features, dim))
        nn.init.xavier_normal_(self.weight_a)
        nn.init.xavier_normal_(self.weight_v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attn = (x @ self.weight_a.transpose(1, 2)).transpose(1, 2).softmax(dim=-1)  # (N, L, P)
        return attn @ (x @ self.weight_v)


class SSFTT(nn.Module):
    """Patches ``(N, 1, B, p, p)`` -> logits ``(N, n_classes)``; B = n_components or n_bands."""

    def __init__(self, config: SSFTTConfig, n_bands: int, n_classes: int) -> None:
        super().__init__()
        depth = input_depth_for("SSFTTConfig", config.n_components, n_bands)
        check_min_input(
            "SSFTTConfig",
            patch_size=config.patch_size,
            min_patch=5,  # two unpadded 3 x 3 convolutions
            depth=depth,
            min_depth=3,  # one unpadded spectral kernel of 3
            n_components=config.n_components,
        )
        self.input_shape = (1, depth, config.patch_size, config.patch_size)
        self.conv3d = conv_bn_relu3d(1, config.channels3d, (3, 3, 3))
        maps = config.channels3d * conv_out_size(depth, 3)
        self.conv2d = conv_bn_relu2d(maps, config.channels2d, 3)
        self.tokenizer = Tokenizer(config.channels2d, config.n_tokens, config.dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.dim))
        self.pos_embedding = nn.Parameter(torch.empty(1, config.n_tokens + 1, config.dim))
        nn.init.normal_(self.pos_embedding, std=0.02)
        self.emb_dropout = nn.Dropout(config.emb_dropout)
        self.encoder = nn.Sequential(
            *(
                PreNormEncoderLayer(
                    config.dim,
                    config.heads,
                    config.mlp_dim,
                    config.dropout,
                    scale=config.dim**-0.5,
                )
                for _ in range(config.depth)
            )
        )
        self.head = nn.Linear(config.dim, n_classes)
        nn.init.xavier_uniform_(self.head.weight)
        nn.init.normal_(self.head.bias, std=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_patches("SSFTT", x, self.input_shape)
        x = self.conv2d(self.conv3d(x).flatten(1, 2))  # (N, c, h, w)
        tokens = self.tokenizer(x.flatten(2).transpose(1, 2))  # (N, L, dim)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        z = self.emb_dropout(torch.cat((cls, tokens), dim=1) + self.pos_embedding)
        return self.head(self.encoder(z)[:, 0])


@register_model("ssftt", SSFTTConfig, training=TRAINING_DEFAULTS, paper=PAPER)
def build_ssftt(config: SSFTTConfig, n_bands: int, n_classes: int) -> SSFTT:
    """Registry entry: SSFTT for ``n_bands`` scene bands and ``n_classes`` classes."""
    return SSFTT(config, n_bands, n_classes)
