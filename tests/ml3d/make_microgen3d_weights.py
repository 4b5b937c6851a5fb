#!/usr/bin/env python3
"""Writes MicroGen3D-style weights for test_ml3d's import tests.

vae.pt, fp.pt and ddpm.pt are state dicts with the reference's tensor names
(baskargroup/MicroGen3D models/VAE.py, FP.py, unet.py, DDPM.py) at reduced
widths, plus config.yaml and expected.txt: one line per tensor,
"MICROSTUDIO_NAME REFERENCE_NAME d0,d1,...", so the test can set the same
values on MicroStudio's network directly. Every value is
value(reference name, index) below; the test computes the same.

With Debian's python3-torch the files are written by torch.save itself.
Without it (a test-only dependency, absent on the build machines) they are
written in torch.save's format by Python's own pickle: protocol 2, a
collections.OrderedDict with _metadata, tensors reduced to
torch._utils._rebuild_tensor_v2 with ('storage', torch.FloatStorage, key,
'cpu', numel) persistent ids, and a zip of ARCHIVE/data.pkl,
ARCHIVE/data/KEY and ARCHIVE/version.
"""
import argparse
import collections
import math
import os
import pickle
import struct
import sys
import types
import zipfile


def value(name, index, shape):
    """The test's deterministic value of element `index` of tensor `name`."""
    phase = sum((i + 1) * ord(c) for i, c in enumerate(name)) % 1000 / 100.0
    s = math.sin(0.7 * index + phase)
    if len(shape) >= 2:
        fan_in = 1
        for d in shape[1:]:
            fan_in *= d
        return s / math.sqrt(fan_in)
    if name.endswith("weight"):  # a norm's scale
        return 1.0 + 0.1 * s
    return 0.05 * s


def count(shape):
    n = 1
    for d in shape:
        n *= d
    return n


# --- the reference's names and MicroStudio's, side by side ----------------------------

def conv(ref, ms, cin, cout, k, transposed=False):
    w = [cin, cout] + [k] * 3 if transposed else [cout, cin] + [k] * 3
    return [(ref + "weight", ms + "weight", w), (ref + "bias", ms + "bias", [cout])]


def norm(ref, ms, c):
    return [(ref + "weight", ms + "weight", [c]), (ref + "bias", ms + "bias", [c])]


def vae_resblock(ref, ms, c):
    return (conv(ref + "block.0.", ms + "conv1.", c, c, 3) + norm(ref + "block.1.", ms + "norm1.", c) +
            conv(ref + "block.3.", ms + "conv2.", c, c, 3) + norm(ref + "block.4.", ms + "norm2.", c))


def vae_tensors(widths, latent, deconv_layers):
    out, cin = [], 1
    for i, c in enumerate(widths + [latent]):
        n = str(i + 1)
        k = 1 if i == len(widths) else 3
        out += conv("encoder.conv_layers.%d." % (3 * i), "vae.enc_conv" + n + ".", cin, c, k)
        out += norm("encoder.conv_layers.%d." % (3 * i + 1), "vae.enc_norm" + n + ".", c)
        out += vae_resblock("encoder.conv_layers.%d." % (3 * i + 2), "vae.enc_res" + n + ".", c)
        cin = c
    out += conv("encoder.conv_mu.", "vae.mu.", latent, latent, 1)
    out += conv("encoder.conv_logvar.", "vae.logvar.", latent, latent, 1)
    chain = [latent] + widths[::-1]
    for i in range(len(widths)):
        n = str(i + 1)
        if deconv_layers:
            base = "decoder.deconv_layers.%d." % i
            refs = (base + "0.", base + "1.", base + "2.")
        else:
            refs = ("decoder.convs.%d." % i, "decoder.instnorms.%d." % i, "decoder.resblocks.%d." % i)
        out += conv(refs[0], "vae.dec_conv" + n + ".", chain[i], chain[i + 1], 1 if i == 0 else 3, transposed=True)
        out += norm(refs[1], "vae.dec_norm" + n + ".", chain[i + 1])
        out += vae_resblock(refs[2], "vae.dec_res" + n + ".", chain[i + 1])
    out += conv("decoder.final_conv.", "vae.dec_output.", widths[0], 1, 3, transposed=True)
    return out


def linear(ref, ms, cin, cout):
    return [(ref + "weight", ms + "weight", [cout, cin]), (ref + "bias", ms + "bias", [cout])]


def fp_tensors(inputs, outputs):
    h1 = inputs // 2
    h2 = h1 // 2
    return (linear("fc1.", "fp.fc1.", inputs, h1) + linear("fc2.", "fp.fc2.", h1, h2) +
            linear("fc3.", "fp.fc3.", h2, outputs))


def unet_block(ref, ms, cin, cout):
    return conv(ref + "conv1.0.", ms + "conv1.", cin, cout, 3) + conv(ref + "conv2.0.", ms + "conv2.", cout, cout, 3)


def ddpm_tensors(channels, f, context):
    u = "nn_model."
    out = unet_block(u + "init_conv.", "unet.init.", channels, f)
    out += unet_block(u + "down1.model.0.", "unet.down1.", f, f)
    out += unet_block(u + "down2.model.0.", "unet.down2.", f, 2 * f)
    for ref, ms, cin, width in (("timeembed1", "time1", 1, 2 * f), ("timeembed2", "time2", 1, f),
                                ("contextembed1", "context1", context, 2 * f),
                                ("contextembed2", "context2", context, f)):
        out += linear(u + ref + ".model.0.", "unet." + ms + ".fc1.", cin, width)
        out += linear(u + ref + ".model.2.", "unet." + ms + ".fc2.", width, width)
    out += conv(u + "up0.0.", "unet.up0.", 2 * f, 2 * f, 1, transposed=True)
    out += norm(u + "up0.1.", "unet.up0_norm.", 2 * f)
    for up, cin in (("up1", 4 * f), ("up2", 2 * f)):
        out += conv(u + up + ".model.0.", "unet." + up + ".up.", cin, f, 2, transposed=True)
        out += unet_block(u + up + ".model.1.", "unet." + up + ".res1.", f, f)
        out += unet_block(u + up + ".model.2.", "unet." + up + ".res2.", f, f)
    out += conv(u + "out.0.", "unet.out1.", 2 * f, f, 3)
    out += norm(u + "out.1.", "unet.out_norm.", f)
    out += conv(u + "out.3.", "unet.out2.", f, channels, 3)
    return out


def schedule(timesteps):
    """The reference's linear_beta_schedule and alphabar_t (float32 in torch; doubles here)."""
    scale = 1000.0 / timesteps
    betas = [scale * 1e-4 + (scale * 0.02 - scale * 1e-4) * i / (timesteps - 1) for i in range(timesteps)]
    product, alphabar = 1.0, []
    for b in betas:
        product *= 1.0 - b
        alphabar.append(product)
    return alphabar


# --- writers --------------------------------------------------------------------------

def save_with_torch(torch, path, tensors, extra):
    state = collections.OrderedDict()
    for ref, _, shape in tensors:
        state[ref] = torch.tensor([value(ref, i, shape) for i in range(count(shape))],
                                  dtype=torch.float32).reshape(shape)
    for name, values in extra.items():
        state[name] = torch.tensor(values, dtype=torch.float32)
    state._metadata = collections.OrderedDict()
    torch.save(state, path)


def fake_torch_modules():
    """Module objects named torch and torch._utils, so that pickle writes the same
    GLOBAL opcodes as torch.save (no torch code is run or imported)."""
    torch_mod = types.ModuleType("torch")
    utils_mod = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    torch_mod.FloatStorage = FloatStorage

    def _rebuild_tensor_v2(*args):
        raise RuntimeError("never called: only pickled by reference")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils_mod._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch_mod._utils = utils_mod
    sys.modules["torch"] = torch_mod
    sys.modules["torch._utils"] = utils_mod
    return FloatStorage, _rebuild_tensor_v2


class Storage:
    def __init__(self, key, data):
        self.key, self.data = key, data


class Tensor:
    def __init__(self, storage, shape, rebuild):
        self.storage, self.shape, self.rebuild = storage, shape, rebuild

    def __reduce_ex__(self, protocol):
        stride, s = [], 1
        for d in reversed(self.shape):
            stride.insert(0, s)
            s *= d
        return (self.rebuild, (self.storage, 0, tuple(self.shape), tuple(stride), False,
                               collections.OrderedDict()))


def save_like_torch(path, tensors, extra):
    float_storage, rebuild = fake_torch_modules()
    state, storages = collections.OrderedDict(), []
    items = [(ref, shape, [value(ref, i, shape) for i in range(count(shape))]) for ref, _, shape in tensors]
    items += [(name, [len(values)], values) for name, values in extra.items()]
    for ref, shape, values in items:
        storage = Storage(str(len(storages)), struct.pack("<%df" % len(values), *values))
        storages.append(storage)
        state[ref] = Tensor(storage, shape, rebuild)
    state._metadata = collections.OrderedDict()

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", float_storage, obj.key, "cpu", len(obj.data) // 4)
            return None

    import io
    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(state)
    archive = os.path.splitext(os.path.basename(path))[0]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(archive + "/data.pkl", buffer.getvalue())
        for s in storages:
            z.writestr(archive + "/data/" + s.key, s.data)
        z.writestr(archive + "/version", "3\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--shape", default="32,32,32", help="D,H,W (z, y, x)")
    p.add_argument("--widths", default="8,16,16,16", help="encoder widths (the reference: 64,128,256,max_channels)")
    p.add_argument("--latent", type=int, default=2)
    p.add_argument("--first-stride", type=int, default=1)
    p.add_argument("--stride-in-config", choices=["first_layer_downsample", "stride1_first_layer", "none"],
                   default="first_layer_downsample")
    p.add_argument("--decoder", choices=["deconv_layers", "convs"], default="deconv_layers")
    p.add_argument("--features", type=int, default=8, help="the U-Net's n_feat")
    p.add_argument("--timesteps", type=int, default=100)
    p.add_argument("--attributes", default="ABS_f_D,CT_f_D_tort1,CT_f_A_tort1,norm_STAT_e")
    p.add_argument("--context", default="ABS_f_D,CT_f_D_tort1,CT_f_A_tort1")
    p.add_argument("--without-torch", action="store_true", help="never use python3-torch, even when installed")
    a = p.parse_args()
    shape = [int(s) for s in a.shape.split(",")]
    widths = [int(s) for s in a.widths.split(",")]
    attributes, context = a.attributes.split(","), a.context.split(",")
    down = a.first_stride * 2 ** (len(widths) - 1)
    latent_values = a.latent * count([d // down for d in shape])
    files = {
        "vae.pt": (vae_tensors(widths, a.latent, a.decoder == "deconv_layers"), {}),
        "fp.pt": (fp_tensors(latent_values, len(attributes)), {}),
        "ddpm.pt": (ddpm_tensors(a.latent, a.features, len(context)), {"alphabar_t": schedule(a.timesteps)}),
    }
    os.makedirs(a.out, exist_ok=True)
    torch = None
    if not a.without_torch:
        try:
            import torch
        except ImportError:
            torch = None
    for name, (tensors, extra) in files.items():
        path = os.path.join(a.out, name)
        if torch is not None:
            save_with_torch(torch, path, tensors, extra)
        else:
            save_like_torch(path, tensors, extra)
    with open(os.path.join(a.out, "expected.txt"), "w") as f:
        for name, (tensors, _) in files.items():
            for ref, ms, shp in tensors:
                f.write("%s %s %s\n" % (ms, ref, ",".join(str(d) for d in shp)))
    stride_line = {
        "first_layer_downsample": "  first_layer_downsample: %s\n" % ("true" if a.first_stride == 2 else "false"),
        "stride1_first_layer": "  stride1_first_layer: %s\n" % ("true" if a.first_stride == 1 else "false"),
        "none": "",
    }[a.stride_in_config]
    with open(os.path.join(a.out, "config.yaml"), "w") as f:
        f.write("image_shape: [1, %d, %d, %d]  # [C, D, H, W]\n" % tuple(shape))
        f.write("attributes:\n" + "".join("  - %s\n" % n for n in attributes))
        f.write("vae:\n  latent_dim_channels: %d\n  max_channels: %d\n%s" % (a.latent, widths[-1], stride_line))
        f.write("fp:\n  dropout: 0.1\n")
        f.write("ddpm:\n  timesteps: %d\n  n_feat: %d\n  context_attributes:\n" % (a.timesteps, a.features))
        f.write("".join("    - %s\n" % n for n in context))
        f.write("inference:\n  random:\n    ranges:\n      ABS_f_D: [0.4, 0.6]\n      CT_f_D_tort1: [0.15, 0.35]\n")
    print("written by", "torch.save (python3-torch %s)" % torch.__version__ if torch is not None
          else "Python's pickle in torch.save's format (no python3-torch)")


if __name__ == "__main__":
    main()
