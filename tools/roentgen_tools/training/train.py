"""roentgen-train: the paper's two approaches, ending in Roentgen model files.

  roentgen-train cnn DATA -o OUT                      approach B: Table-2 CNN, heavy augmentation
  roentgen-train svm DATA --backbone efficientnet-lite0 [--layer L] -o OUT
                                                      approach A: ImageNet CNN features + linear SVM
  roentgen-train svm DATA --features F.onnx --layer L -o OUT
                                                      approach A on any feature CNN (ONNX)
  roentgen-train check-backbone efficientnet-lite0    the backbone's ImageNet top-5 on natural photos
  roentgen-train eval MODEL.{onnx,rtg} DATA           accuracy / recall / confusion on any labelled set

DATA is an IRMA (ImageCLEF 2009) CSV or its folder, a `path,label` CSV (or a folder holding
labels.csv), or a folder per class (see datasets.py). Images are decoded, resized and normalized
exactly as the runtime does (SPEC "INPUT": 128x128 grayscale, mean 0, std 1 for the CNN; the
backbone's size and normalization for --backbone), so training sees what the deployed model sees.

OUT receives: model.onnx (cnn) or svm.npz (svm), labels.txt, calib/ (calibration PNGs taken from
the training split), model-int8.rtg, model-f32.rtg, metrics.json, confusion.csv, report.txt,
split.csv (which image went where), and for cnn: checkpoint.pt (last epoch, for --resume),
best.pt (best validation accuracy), history.csv.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from ..data import datasets
from ..data.datasets import DatasetError
from . import confidence
from ..data.ood import REJECT_LABEL
from .augment import augment, flip_classes

SIZE = 128


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------- metrics

def metrics(y_true, y_pred, labels):
    n = len(labels)
    cm = np.zeros((n, n), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        cm[t, p] += 1
    support = cm.sum(axis=1)
    recall = {labels[i]: (float(cm[i, i] / support[i]) if support[i] else None) for i in range(n)}
    acc = float(np.trace(cm) / max(cm.sum(), 1))
    return {"accuracy": acc, "images": int(cm.sum()), "recall": recall,
            "support": {labels[i]: int(support[i]) for i in range(n)}, "confusion": cm.tolist(),
            "labels": list(labels)}


def format_metrics(m, title=""):
    labels = m["labels"]
    w = max(8, max(len(s) for s in labels))
    out = [f"{title}accuracy {m['accuracy'] * 100:.2f} % on {m['images']} images", "",
           f"{'class':<{w}}  recall   n"]
    for lab in labels:
        r = m["recall"][lab]
        out.append(f"{lab:<{w}}  {'   -  ' if r is None else f'{r * 100:6.2f}'}  {m['support'][lab]}")
    out += ["", "confusion matrix (rows = true, columns = predicted, in the order above):"]
    cw = max(4, len(str(max(max(r) for r in m["confusion"]))) + 1)
    for lab, row in zip(labels, m["confusion"]):
        out.append(f"{lab:<{w}} " + "".join(f"{v:>{cw}}" for v in row))
    return "\n".join(out)


def save_metrics(out: Path, m, title, extra=None, stem="metrics"):
    d = dict(m)
    if extra:
        d.update(extra)
    (out / f"{stem}.json").write_text(json.dumps(d, indent=1) + "\n")
    with open(out / ("confusion.csv" if stem == "metrics" else f"{stem}-confusion.csv"), "w", newline="") as f:
        wr = csv.writer(f, lineterminator="\n")
        wr.writerow(["true\\predicted"] + m["labels"])
        for lab, row in zip(m["labels"], m["confusion"]):
            wr.writerow([lab] + row)
    text = format_metrics(m, title)
    (out / ("report.txt" if stem == "metrics" else f"{stem}.txt")).write_text(text + "\n")
    return text


# ------------------------------------------------------------------------------------- data

def prepare(args):
    """-> (train samples, val samples, class names) following the paper's recipe."""
    samples = datasets.load(args.data, args.format, args.image_dir, args.irma_axes)
    kind, _ = datasets.detect(args.data, args.format)
    min_count = args.min_count if args.min_count is not None else (50 if kind == "irma" else 1)
    samples, dropped = datasets.drop_rare(samples, min_count)
    if dropped:
        log(f"dropped {len(dropped)} classes with fewer than {min_count} images "
            f"({sum(dropped.values())} images)")
    if args.reject_data:
        # the reject class (SPEC "REJECT"): every image of the folder, whatever its own labels say
        if any(s.label == REJECT_LABEL for s in samples):
            raise DatasetError(f"{args.data}: a class is named {REJECT_LABEL!r}, the reject class's name")
        rejects = [datasets.Sample(s.path, REJECT_LABEL) for s in datasets.load(args.reject_data)]
        log(f"reject class {REJECT_LABEL!r}: {len(rejects)} images from {args.reject_data}")
        samples = samples + rejects
    labels = datasets.class_names(samples)
    if len(labels) < 2:
        raise DatasetError(f"need at least 2 classes, have {labels}")
    train, val = datasets.stratified_split(samples, args.val_fraction, args.seed)
    log(f"{len(samples)} images, {len(labels)} classes ({kind}); split {len(train)} train / {len(val)} "
        f"held-out (seed {args.seed})")
    return train, val, labels


def reject_class(labels):
    return labels.index(REJECT_LABEL) if REJECT_LABEL in labels else None


def write_split(out: Path, train, val):
    with open(out / "split.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["path", "label", "split"])
        w.writerows([(s.path, s.label, "train") for s in train] + [(s.path, s.label, "heldout") for s in val])


def make_calib(out: Path, train, labels, per_class: int, seed: int):
    """calib/: per_class training PNGs of every class (copied, so the folder is self-contained)."""
    d = out / "calib"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    rng = np.random.default_rng(seed + 7)
    for ci, lab in enumerate(labels):
        items = sorted((s for s in train if s.label == lab), key=lambda s: s.path)
        for j in rng.permutation(len(items))[:per_class]:
            shutil.copyfile(items[j].path, d / f"{ci:03d}_{j:05d}.png")
    return d


def arrays(samples, labels, progress=True, size=SIZE):
    x, kept = datasets.load_arrays(samples, size, 1, log=log, progress=progress)
    index = {lab: i for i, lab in enumerate(labels)}
    y = np.array([index[s.label] for s in kept], dtype=np.int64)
    return x, y, kept


# ------------------------------------------------------------------------------------- cnn

def _torch_setup(threads, seed):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    return torch


def predict_torch(net, x_nhwc, batch=128):
    import torch
    net.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(x_nhwc), batch):
            xb = torch.from_numpy(x_nhwc[i:i + batch]).permute(0, 3, 1, 2).contiguous()
            outs.append(net(xb).numpy())
    return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)


def train_cnn(args) -> int:
    torch = _torch_setup(args.threads, args.seed)
    import torch.nn.functional as F
    from tqdm import tqdm
    from ..training.models import Table2Net, export_onnx

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    train, val, labels = prepare(args)
    write_split(out, train, val)
    (out / "labels.txt").write_text("\n".join(labels) + "\n")
    xtr, ytr, train = arrays(train, labels)
    xva, yva, val = arrays(val, labels)
    if len(val) == 0:
        raise DatasetError("the held-out split is empty: use more images or a larger --val-fraction")
    flips = flip_classes(args.hflip, labels)
    flip_ok = torch.tensor([lab in flips for lab in labels])
    log(f"horizontal flip allowed for: {', '.join(sorted(flips)) or 'no class'}")

    net = Table2Net(len(labels)).to(memory_format=torch.channels_last)  # ~1.4x faster on CPU
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = math.ceil(len(xtr) / args.batch_size)
    if args.max_steps:
        steps_per_epoch = min(steps_per_epoch, args.max_steps)
    total = steps_per_epoch * args.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=total, pct_start=0.15)
    start_epoch, best_acc, best_loss, history = 0, -1.0, math.inf, []
    ckpt_path, best_path = out / "checkpoint.pt", out / "best.pt"
    gen = torch.Generator().manual_seed(args.seed)
    if args.resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False)
        if ck["labels"] != labels:
            raise DatasetError(f"--resume: {ckpt_path} has other classes than DATA")
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        if ck.get("total_steps", ck["scheduler"].get("total_steps", total)) == total:
            sched.load_state_dict(ck["scheduler"])
        else:  # --epochs changed: a fresh, gentler one-cycle schedule over the remaining epochs
            remaining = steps_per_epoch * max(args.epochs - ck["epoch"], 1)
            for g in opt.param_groups:
                g.pop("initial_lr", None), g.pop("max_lr", None), g.pop("min_lr", None)
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr * 0.2, total_steps=remaining,
                                                        pct_start=0.1)
            log(f"--epochs changed ({ck.get('epochs')} -> {args.epochs}): new one-cycle schedule, peak lr "
                f"{args.lr * 0.2:g}, over the remaining epochs")
        gen.set_state(ck["generator"])
        torch.set_rng_state(ck["torch_rng"])
        start_epoch, best_acc, history = ck["epoch"], ck["best_acc"], ck["history"]
        best_loss = ck.get("best_loss", math.inf)
        log(f"resumed from {ckpt_path} after epoch {start_epoch} (best held-out accuracy {best_acc * 100:.2f} %)")
    elif args.resume:
        log(f"--resume: no {ckpt_path}, starting from scratch")

    xtr_t = torch.from_numpy(xtr).permute(0, 3, 1, 2).contiguous()
    ytr_t = torch.from_numpy(ytr)
    t_start = time.time()
    for epoch in range(start_epoch, args.epochs):
        net.train()
        perm = torch.randperm(len(xtr_t), generator=gen)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{args.epochs}", unit="batch",
                   file=sys.stderr, mininterval=2.0)
        loss_sum = correct = seen = 0
        t0 = time.time()
        for step in bar:
            idx = perm[step * args.batch_size:(step + 1) * args.batch_size]
            xb, yb = xtr_t[idx], ytr_t[idx]
            if args.augment > 0:
                xb = augment(xb, yb, flip_ok, gen, args.augment)
            logits = net(xb.contiguous(memory_format=torch.channels_last))
            loss = F.cross_entropy(logits, yb, label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(yb)
            correct += int((logits.detach().argmax(1) == yb).sum())
            seen += len(yb)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        bar.close()
        train_time = time.time() - t0
        pv = predict_torch(net, xva)
        val_acc = float((pv.argmax(1) == yva).mean())
        val_loss = float(F.cross_entropy(torch.from_numpy(pv), torch.from_numpy(yva)))
        rec = dict(epoch=epoch + 1, train_loss=loss_sum / max(seen, 1), train_acc=correct / max(seen, 1),
                   heldout_loss=val_loss, heldout_acc=val_acc, seconds=round(train_time, 1),
                   images_per_s=round(seen / max(train_time, 1e-9), 1))
        history.append(rec)
        # best = highest held-out accuracy; ties (e.g. several epochs at 100 %) -> lower held-out loss
        improved = val_acc > best_acc or (val_acc == best_acc and val_loss < best_loss)
        if improved:
            best_acc, best_loss = val_acc, val_loss
            torch.save({"model": net.state_dict(), "labels": labels, "epoch": epoch + 1,
                        "heldout_acc": val_acc}, best_path)
        log(f"epoch {epoch + 1}: train loss {rec['train_loss']:.4f} acc {rec['train_acc'] * 100:.2f} %, "
            f"held-out loss {val_loss:.4f} acc {val_acc * 100:.2f} %{' (best)' if improved else ''}, "
            f"{rec['images_per_s']} img/s")
        torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                    "generator": gen.get_state(), "torch_rng": torch.get_rng_state(), "epoch": epoch + 1,
                    "best_acc": best_acc, "best_loss": best_loss, "history": history, "labels": labels,
                    "epochs": args.epochs, "total_steps": total}, ckpt_path)
        with open(out / "history.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(history[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(history)
    train_seconds = time.time() - t_start
    if not best_path.exists():
        raise DatasetError(f"no {best_path}: nothing trained (epochs {args.epochs})")
    best = torch.load(best_path, weights_only=False)
    net.load_state_dict(best["model"])
    net.eval()
    onnx_path = out / "model.onnx"
    export_onnx(net, onnx_path)
    pv = predict_torch(net, xva)
    m = metrics(yva, pv.argmax(1), labels)
    xa, ya = confidence.augmented_copies(xva, yva, flip_ok, args.seed)
    conf = confidence.calibrate(predict_torch(net, xa), ya, reject_class(labels))
    conf["heldout"] = confidence.heldout_answers(pv, yva, conf)
    extra = {"approach": "cnn", "best_epoch": best["epoch"], "epochs": args.epochs,
             "train_images": len(train), "train_seconds_this_run": round(train_seconds, 1),
             "confidence": conf, "history": history}
    text = save_metrics(out, m, f"CNN (float, best epoch {best['epoch']}) held-out ", extra)
    print(text)
    log_confidence(conf)
    return finish(args, out, onnx_path, None, train, val, yva, labels, m, conf=conf)


def log_confidence(c):
    log(f"confidence: temperature {c['temperature']:.4g} (NLL {c['nll_before']:.3f} -> {c['nll_after']:.3f}, "
        f"ECE {c['ece_before']:.3f} -> {c['ece_after']:.3f} on {c['images']} augmented held-out images); "
        f"uncertain below {c['min_confidence']:.3f}" + (" or when the reject class is as likely" if c["reject_class"] is not None else ""))
    h = c["heldout"]
    log(f"held-out: {h['in_domain_uncertain'] * 100:.1f} % of the {h['in_domain']} in-domain images uncertain"
        + (f", {h['reject_uncertain'] * 100:.1f} % of the {h['reject']} reject-class images" if h["reject"] else ""))


def finish(args, out, onnx_path, svm_path, train, val, yva, labels, m_float, mean=0.0, std=1.0, conf=None) -> int:
    """Calibration folder, int8 + f32 conversion (with the fitted CONFIDENCE), int8 held-out
    accuracy (numpy reference)."""
    if args.no_convert:
        return 0
    from ..convert import convert, convert_svm
    from ..fileformat import Confidence, read_bytes, serialize, write_atomic
    calib = make_calib(out, train, labels, args.calib_per_class, args.seed)
    for precision in ("f32", "int8"):
        if svm_path is None:
            model = convert(onnx_path, precision, calib if precision == "int8" else None, labels)
        else:
            model = convert_svm(onnx_path, svm_path, precision, calib if precision == "int8" else None,
                                labels=labels, mean=[mean], std=[std])
        if conf is not None:
            model.confidence = Confidence(conf["temperature"], conf["min_confidence"], conf["reject_class"])
        data = serialize(model)
        read_bytes(data)
        write_atomic(out / f"model-{precision}.rtg", data)
        log(f"wrote {out / f'model-{precision}.rtg'} ({len(data):,} bytes)")
    if args.skip_int8_eval:
        return 0
    mi = evaluate_rtg(out / "model-int8.rtg", val, labels, progress=True)
    text = save_metrics(out, mi, "int8 (numpy reference) held-out ", stem="metrics-int8")
    print(text)
    d = json.loads((out / "metrics.json").read_text())
    d["int8_accuracy"] = mi["accuracy"]
    (out / "metrics.json").write_text(json.dumps(d, indent=1) + "\n")
    print(f"held-out accuracy: float {m_float['accuracy'] * 100:.2f} %, int8 {mi['accuracy'] * 100:.2f} % "
          f"({(mi['accuracy'] - m_float['accuracy']) * 100:+.2f} points)")
    return 0


# ------------------------------------------------------------------------------------- svm

def extract_features(extractor, x_nhwc, batch=64, progress=False):
    outs = []
    it = range(0, len(x_nhwc), batch)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc="features", unit="batch", file=sys.stderr, leave=False)
    for i in it:
        outs.append(extractor(x_nhwc[i:i + batch], batch))
    return np.concatenate(outs).astype(np.float64)


def train_svm(args) -> int:
    import torch
    torch.set_num_threads(args.threads)
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import LinearSVC
    from ..convert import load_graph
    from ..svm_head import feature_dim, feature_graph, feature_tensor, find_layer, fold_scaler, save_svm
    from .features import OnnxFeatures

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    size, mean, std = SIZE, 0.0, 1.0
    if args.backbone:
        from .. import backbones
        size = args.size or backbones.get(args.backbone).native_size
        args.features = str(out / "features.onnx")
        mean, std = backbones.export_features(args.backbone, args.features, size)
        log(f"backbone {args.backbone} (ImageNet) at {size}x{size}, input (x - {mean:.6f}) / {std:.6f}: "
            f"{args.features}")
    elif not args.features:
        raise DatasetError("give --backbone NAME or --features MODEL.onnx")
    graph = load_graph(args.features)
    if (graph.channels, graph.height, graph.width) != (1, size, size):
        raise DatasetError(f"{args.features}: input {graph.channels}x{graph.height}x{graph.width}, "
                           f"expected 1x{size}x{size}")
    if args.layer is None:
        args.layer = graph.layer_names()[-1]
    dim = feature_dim(feature_graph(graph, args.layer, args.pool))
    extractor = OnnxFeatures(args.features, feature_tensor(graph, args.layer)[0], args.pool)
    log(f"features: {args.features} cut after {find_layer(graph, args.layer).name} ({args.pool}) -> {dim} values "
        "per image")
    train, val, labels = prepare(args)
    write_split(out, train, val)
    (out / "labels.txt").write_text("\n".join(labels) + "\n")
    xtr, ytr, train = arrays(train, labels, size=size)
    xva, yva, val = arrays(val, labels, size=size)
    t0 = time.time()
    ftr = extract_features(extractor, (xtr - mean) / std, progress=True)
    fva = extract_features(extractor, (xva - mean) / std, progress=True)
    t_feat = time.time() - t0
    # Standardisation: per feature (z = (f - mean) / std, scikit-learn's StandardScaler) or, the
    # default, one global scale (the mean of the features' stds). Per-feature scaling divides
    # near-constant features by stds below one int8 step of the feature tensor, so the int8 file's
    # rounding noise on them dominates the decision values (docs/TRAINING.md, "Approach A").
    mu = ftr.mean(0)
    sd = ftr.std(0)
    scale = np.where(sd > 0, sd, 1.0) if args.scale == "per-feature" else np.full_like(sd, max(float(sd.mean()), 1e-12))
    ztr = (ftr - mu) / scale
    grid = [float(c) for c in args.C]
    folds = min(args.folds, int(np.bincount(ytr).min()))
    t0 = time.time()
    # primal when there are more images than features (liblinear's Newton solver: seconds), else dual
    svc = LinearSVC(dual=bool(len(ztr) < ztr.shape[1]), max_iter=args.max_iter, random_state=args.seed)
    if len(grid) > 1 and folds >= 2:
        gs = GridSearchCV(svc, {"C": grid}, cv=StratifiedKFold(folds, shuffle=True, random_state=args.seed),
                          n_jobs=args.jobs, refit=True, verbose=0)
        import warnings
        from sklearn.exceptions import ConvergenceWarning
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gs.fit(ztr, ytr)
        clf, best_c = gs.best_estimator_, float(gs.best_params_["C"])
        cv = {str(c): float(s) for c, s in zip(gs.cv_results_["param_C"], gs.cv_results_["mean_test_score"])}
        for c, s in cv.items():
            log(f"C = {c:>8}: {folds}-fold cross-validation accuracy {s * 100:.2f} %")
    else:
        best_c, cv = grid[0], {}
        clf = svc.set_params(C=best_c).fit(ztr, ytr)
    t_svm = time.time() - t0
    coef = clf.coef_ if clf.coef_.shape[0] == len(labels) else None
    if coef is None:  # binary LinearSVC has one row: decision for class 1 = +f, class 0 = -f
        coef = np.vstack([-clf.coef_, clf.coef_]) / 2
        icpt = np.concatenate([-clf.intercept_, clf.intercept_]) / 2
    else:
        icpt = clf.intercept_
    w, b = fold_scaler(coef, icpt, mu, scale)
    dv = fva @ w.T + b
    m = metrics(yva, dv.argmax(1), labels)
    import torch
    flip_ok = torch.tensor([lab in flip_classes("auto", labels) for lab in labels])
    xa, ya = confidence.augmented_copies(xva, yva, flip_ok, args.seed)
    conf = confidence.calibrate(extract_features(extractor, (xa - mean) / std) @ w.T + b, ya, reject_class(labels))
    conf["heldout"] = confidence.heldout_answers(dv, yva, conf)
    svm_path = out / "svm.npz"
    info = {"C": best_c, "cv_accuracy": cv, "folds": folds, "train_images": len(train),
            "features": os.path.basename(args.features), "backbone": args.backbone, "size": size,
            "mean": mean, "std": std, "layer": args.layer, "pool": args.pool, "scale": args.scale}
    save_svm(svm_path, w, b, labels, args.layer, args.pool, args.features, info, backbone=args.backbone or "", size=size)
    extra = {"approach": "svm", **info, "feature_seconds": round(t_feat, 1), "svm_seconds": round(t_svm, 1),
             "confidence": conf}
    text = save_metrics(out, m, f"SVM (float, C = {best_c:g}) held-out ", extra)
    print(text)
    log_confidence(conf)
    log(f"features {t_feat:.1f} s, SVM grid search + fit {t_svm:.1f} s; wrote {svm_path}")
    # a backbone's file is converted from the weights themselves, as scripts/convert-fixtures.sh does
    return finish(args, out, None if args.backbone else args.features, svm_path, train, val, yva, labels, m,
                  mean=mean, std=std, conf=conf)


# ------------------------------------------------------------------------------------ eval

def evaluate_rtg(path, samples, labels, progress=False):
    """Runs a .rtg in the numpy reference over samples (int8: bit-exact with the runtime)."""
    from ..fileformat import read_model
    from ..reference.executor import load_input, run
    model = read_model(path)
    index = {lab: i for i, lab in enumerate(model.labels)}
    yt, yp = [], []
    it = samples
    if progress:
        from tqdm import tqdm
        it = tqdm(samples, desc=f"reference {Path(path).name}", unit="img", file=sys.stderr, mininterval=2.0)
    for s in it:
        if s.label not in index:
            continue
        out = run(model, load_input(model, s.path)).reshape(-1)
        yt.append(index[s.label])
        yp.append(int(np.argmax(out)))
    return metrics(yt, yp, model.labels)


def evaluate_onnx(path, samples, labels):
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    index = {lab: i for i, lab in enumerate(labels)}
    samples = [s for s in samples if s.label in index]
    x, kept = datasets.load_arrays(samples, SIZE, 1, log=log)
    yp = []
    for i in range(0, len(x), 64):
        yp.append(sess.run(None, {name: np.ascontiguousarray(x[i:i + 64].transpose(0, 3, 1, 2))})[0].argmax(1))
    return metrics([index[s.label] for s in kept], np.concatenate(yp), labels)


def eval_cmd(args) -> int:
    samples = datasets.load(args.data, args.format, args.image_dir, args.irma_axes)
    p = Path(args.model)
    if p.suffix == ".onnx":
        lp = Path(args.labels) if args.labels else p.with_name("labels.txt")
        labels = [s for s in lp.read_text().splitlines() if s]
        m = evaluate_onnx(p, samples, labels)
        kind = "float (onnxruntime)"
    else:
        from ..fileformat import read_model
        labels = read_model(p).labels
        m = evaluate_rtg(p, samples, labels, progress=True)
        kind = "numpy reference"
    unknown = sorted({s.label for s in samples} - set(labels))
    if unknown:
        log(f"ignored images of classes the model does not know: {', '.join(unknown)}")
    text = format_metrics(m, f"{p.name} [{kind}] on {args.data}: ")
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(m, indent=1) + "\n")
    return 0


def check_backbone(args) -> int:
    from .. import backbones
    failed = 0
    for photo, top, expected, ok in backbones.check_imagenet(args.backbone):
        mark = "ok  " if ok else ("FAIL" if ok is False else "    ")
        failed += ok is False
        print(f"{mark} {photo:14s} " + ", ".join(f"{c} {p:.2f}" for c, p in top))
    print(f"{args.backbone}: {'the ImageNet weights' if not failed else f'{failed} photos misclassified'}")
    return 1 if failed else 0


def backbones_names():
    from ..backbones import BACKBONES
    return BACKBONES.keys()


# ------------------------------------------------------------------------------------- main

def _data_args(ap):
    ap.add_argument("data", metavar="DATA", help="IRMA CSV (or its folder), path,label CSV, or folder per class")
    ap.add_argument("--format", choices=["auto", "irma", "csv", "folder"], default="auto")
    ap.add_argument("--image-dir", help="IRMA: folder of the images (default: beside the CSV)")
    ap.add_argument("--irma-axes", default="TDAB",
                    help="IRMA axes kept in the flattened class (default TDAB = the whole code)")


def _train_args(ap):
    _data_args(ap)
    ap.add_argument("-o", "--output", required=True, metavar="OUT")
    ap.add_argument("--min-count", type=int, default=None,
                    help="drop classes with fewer images (default 50 for IRMA, as the paper; else 1)")
    ap.add_argument("--val-fraction", type=float, default=0.1, help="held-out split (default 0.1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reject-data", metavar="DIR",
                    help="images that are none of the classes (e.g. `roentgen-data ood`): trained as the "
                         f"reject class {REJECT_LABEL!r}, which the model file marks (SPEC \"REJECT\")")
    ap.add_argument("--calib-per-class", type=int, default=4, help="training images per class for int8 calibration")
    ap.add_argument("--no-convert", action="store_true", help="skip the .rtg conversion")
    ap.add_argument("--skip-int8-eval", action="store_true", help="convert but do not evaluate the int8 file")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="roentgen-train", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cnn", help="approach B: the Table-2 CNN with augmentation")
    _train_args(c)
    c.add_argument("--epochs", type=int, default=30)
    c.add_argument("--batch-size", type=int, default=32)
    c.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (one-cycle, AdamW)")
    c.add_argument("--weight-decay", type=float, default=1e-4)
    c.add_argument("--label-smoothing", type=float, default=0.05)
    c.add_argument("--augment", type=float, default=1.0, help="augmentation strength (0 = off)")
    c.add_argument("--hflip", default="auto",
                   help="classes that may be mirrored: auto (names containing 'lateral'), none, all, or a list")
    c.add_argument("--max-steps", type=int, default=0, help="at most this many batches per epoch (smoke tests)")
    c.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    s = sub.add_parser("svm", help="approach A: CNN features + linear SVM")
    _train_args(s)
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--backbone", choices=sorted(backbones_names()),
                     help="ImageNet-pretrained backbone (the paper's approach A), fetched by set-up")
    src.add_argument("--features", metavar="MODEL.onnx", help="any feature CNN (ONNX, 1-channel input)")
    s.add_argument("--size", type=int, default=0, help="--backbone input size (default: the backbone's own, 224)")
    s.add_argument("--layer", default=None,
                   help="cut after this layer (converter name; default: the features' last layer, for "
                        "--backbone its global average pool)")
    s.add_argument("--pool", choices=["flatten", "max", "mean"], default="flatten",
                   help="flatten the feature map, or global max / mean pool it (MAXPOOL2D / MEAN over the whole map)")
    s.add_argument("--C", type=float, nargs="+", default=[1e-5, 1e-4, 1e-3, 1e-2, 1e-1],
                   help="exhaustive search grid for the SVM's C")
    s.add_argument("--scale", choices=["global", "per-feature"], default="global",
                   help="feature standardisation before the SVM: one scale for all features (default), or per feature")
    s.add_argument("--folds", type=int, default=5)
    s.add_argument("--max-iter", type=int, default=5000)
    s.add_argument("--jobs", type=int, default=1, help="parallel cross-validation fits")
    b = sub.add_parser("check-backbone", help="the backbone's ImageNet top-5 on scikit-image's natural photos")
    b.add_argument("backbone", choices=sorted(backbones_names()))
    e = sub.add_parser("eval", help="accuracy of an .onnx (onnxruntime) or .rtg (numpy reference) on DATA")
    e.add_argument("model", metavar="MODEL")
    _data_args(e)
    e.add_argument("--labels", help="labels.txt for an .onnx (default: beside it)")
    e.add_argument("--json", metavar="FILE", help="also write the metrics as JSON")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "cnn":
            return train_cnn(args)
        if args.cmd == "svm":
            return train_svm(args)
        if args.cmd == "check-backbone":
            return check_backbone(args)
        return eval_cmd(args)
    except (DatasetError, ValueError, OSError) as e:
        print(f"roentgen-train: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
