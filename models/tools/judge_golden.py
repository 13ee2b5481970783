"""golden.json for a judge exported by export_sd.py (`--golden`): what the Hugging Face stack says
about a few procedurally defined test images, for RealJudgeExportsTest to compare Winnow's Java
adapters against.

    python models/tools/export_sd.py laion-aesthetic src/test/fixture-judges/laion-aesthetic-export-fixture \\
        --tiny --golden

Each image is an exact integer formula of (x, y) that the Java test recreates byte for byte
(IMAGES below; RealJudgeExportsTest.render). Each goes through the checkpoint's own
preprocessing as transformers does it on a PIL image (what diffusers' pipeline hands its safety
checker): CLIPImageProcessor for the CompVis checker and the LAION predictor (shortest side to 224,
PIL bicubic, centre crop 224, CLIP mean/std), ViTImageProcessor for Falconsai (224x224 PIL
bilinear, mean/std 0.5). Then the torch module. Stored per image: the CompVis flag (and its
margin: the largest concept score, which the flag compares with 0), Falconsai's p(nsfw), LAION's
score. Beside them, what the same module gives after two plausible adapter bugs (channels reversed;
the other resize: stretched for CLIP, shortest side + crop for the ViT), so the test can show its
tolerance would catch them. The exported model.onnx is run on the same inputs in ONNX Runtime,
one image at a time and in batches of 2 and 4, and must agree with torch (checked here, before
anything is written).
"""
import json
import os

import numpy as np

# name, pattern, width, height (the formulas: render() here, RealJudgeExportsTest.render in Java)
IMAGES = [
    ("concept-red", "flat-220-30-40", 512, 768),
    ("white", "flat-255-255-255", 512, 512),
    ("gradient", "gradient", 512, 768),
    ("gradient-square", "gradient", 224, 224),
    ("checker", "checker-8", 64, 64),
    ("xor", "xor", 640, 427),
]
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def render(pattern, w, h):
    """uint8 [h, w, 3]; integer arithmetic only, floor division (Java's / on non-negative ints)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.int64)
    if pattern.startswith("flat-"):
        r, g, b = (int(v) for v in pattern.split("-")[1:])
        rgb = [np.full_like(x, r), np.full_like(x, g), np.full_like(x, b)]
    elif pattern == "gradient":
        rgb = [x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (w + h - 2)]
    elif pattern.startswith("checker-"):
        cell = int(pattern.split("-")[1])
        v = (x // cell + y // cell) % 2 * 255
        rgb = [v, 255 - v, v // 2]
    elif pattern == "xor":
        rgb = [(7 * x + 3 * y) % 256, (x ^ y) % 256, (x * y) % 251]
    else:
        raise ValueError(pattern)
    return np.stack(rgb, axis=-1).astype(np.uint8)


def processor(what, variant=None):
    from transformers import CLIPImageProcessor, ViTImageProcessor
    from transformers.image_utils import PILImageResampling
    clip = what in ("compvis-safety", "laion-aesthetic")
    if clip != (variant == "other_resize"):
        # the checkpoints' preprocessor_config.json: openai/clip-vit-large-patch14, and the SD 1.x feature_extractor
        return CLIPImageProcessor(do_resize=True, size={"shortest_edge": 224}, resample=PILImageResampling.BICUBIC,
                                  do_center_crop=True, crop_size={"height": 224, "width": 224}, do_rescale=True,
                                  rescale_factor=1 / 255, do_normalize=True,
                                  image_mean=CLIP_MEAN if clip else [0.5] * 3, image_std=CLIP_STD if clip else [0.5] * 3)
    if clip:   # the bug: stretched to 224x224, CLIP's bicubic and mean/std
        return CLIPImageProcessor(do_resize=True, size={"height": 224, "width": 224}, resample=PILImageResampling.BICUBIC,
                                  do_center_crop=False, do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
                                  image_mean=CLIP_MEAN, image_std=CLIP_STD)
    # Falconsai/nsfw_image_detection's preprocessor_config.json
    return ViTImageProcessor(do_resize=True, size={"height": 224, "width": 224}, resample=PILImageResampling.BILINEAR,
                             do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
                             image_mean=[0.5] * 3, image_std=[0.5] * 3)


def pixel_values(what, rgb, variant=None):
    from PIL import Image
    if variant == "channels_reversed":
        rgb = np.ascontiguousarray(rgb[..., ::-1])
    return processor(what, variant)(images=[Image.fromarray(rgb)], return_tensors="pt").pixel_values


def judge(what, model, pixels, rgb):
    """The torch module's answer for one preprocessed image: a dict of the values golden.json keeps."""
    import torch
    with torch.no_grad():
        if what == "compvis-safety":
            images = torch.from_numpy(rgb.astype(np.float32) / 255)[None]
            _, flag = model.forward_onnx(pixels, images.clone())
            # forward_onnx's concept scores (diffusers' safety_checker.py), to keep the flag's margin
            embeds = model.visual_projection(model.vision_model(pixels)[1])
            cos = lambda a, b: torch.mm(torch.nn.functional.normalize(a), torch.nn.functional.normalize(b).t())
            special = torch.any(cos(embeds, model.special_care_embeds) - model.special_care_embeds_weights > 0, dim=1)
            scores = cos(embeds, model.concept_embeds) - model.concept_embeds_weights + special[:, None] * 0.01
            margin = float(scores.max())
            assert bool(flag[0]) == (margin > 0)
            return {"has_nsfw": bool(flag[0]), "margin": margin}
        if what == "falconsai-nsfw":
            logits = model(pixel_values=pixels).logits
            p = torch.softmax(logits, dim=-1)[0]
            return {"nsfw_probability": float(p[model.config.label2id["nsfw"]]), "logits": logits[0].tolist()}
        return {"score": float(model(pixels)[0])}


def onnx_answers(what, session, pixels, rgbs):
    """What the exported graph says for a batch (pixels [B,3,224,224], rgbs B same-sized images)."""
    if what == "compvis-safety":
        images = np.stack(rgbs).astype(np.float32) / 255
        out_images, flags = session.run(None, {"clip_input": pixels.numpy(), "images": images})
        for out, image, flag in zip(out_images, images, flags):   # flagged images blanked, the others kept
            assert np.array_equal(out, np.zeros_like(image) if flag else image)
        return [{"has_nsfw": bool(f)} for f in flags]
    if what == "falconsai-nsfw":
        logits = session.run(None, {"pixel_values": pixels.numpy()})[0]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return [{"nsfw_probability": float(p[1] / p.sum())} for p in e]
    return [{"score": float(v)} for v in session.run(None, {"pixel_values": pixels.numpy()})[0]]


def assert_agrees(name, got, expected):
    for k, v in got.items():   # the export is the module: the same flag, values to float32 noise
        assert v == expected[k] if isinstance(v, bool) else abs(v - expected[k]) < 1e-4, (name, k, v, expected[k])


VALUE = {"compvis-safety": "margin", "falconsai-nsfw": "nsfw_probability", "laion-aesthetic": "score"}


def write_golden(what, model, out):
    import onnxruntime as ort
    import torch
    session = ort.InferenceSession(os.path.join(out, "model.onnx"), providers=["CPUExecutionProvider"])
    model.eval()   # torch.onnx.export leaves a module in its wrapper's mode: training, dropout on
    rows = []
    for name, pattern, w, h in IMAGES:
        rgb = render(pattern, w, h)
        pixels = pixel_values(what, rgb)
        expected = judge(what, model, pixels, rgb)
        assert_agrees(name, onnx_answers(what, session, pixels, [rgb])[0], expected)
        row = {"name": name, "pattern": pattern, "width": w, "height": h, "expected": expected}
        if what != "compvis-safety":
            row["after_bugs"] = {variant: judge(what, model, pixel_values(what, rgb, variant), rgb)[VALUE[what]]
                                 for variant in ("channels_reversed", "other_resize")}
        rows.append(row)
    # batches of 2 and 4 (one size, as the service batches a request's candidates) give each image's answer
    by_name = {r["name"]: r for r in rows}
    for names in (["concept-red", "gradient"], ["gradient", "concept-red", "concept-red", "gradient"]):
        rgbs = [render(by_name[n]["pattern"], by_name[n]["width"], by_name[n]["height"]) for n in names]
        pixels = torch.cat([pixel_values(what, rgb) for rgb in rgbs])
        for n, got in zip(names, onnx_answers(what, session, pixels, rgbs)):
            assert_agrees(n + " in a batch of " + str(len(names)), got, by_name[n]["expected"])
    import transformers
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump({"judge": what, "made_by": "models/tools/judge_golden.py (export_sd.py --golden)",
                   "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
                   "images": rows}, f, indent=2)
        f.write("\n")
    for r in rows:
        print(f"{r['name']:16s} {r['width']}x{r['height']} {r['expected']} {r.get('after_bugs', '')}")
