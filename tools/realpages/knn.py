#!/usr/bin/env python3
"""Weighted kNN accuracy (k = 200, t = 0.1: the rule of docmoco's kNN monitor) of embeddings
written by `docmoco embed --data DIR` for an ImageFolder DIR/{train,test}/<class>/: train pages
are the bank, test pages the queries. Used by recipe.sh to score random inits and backbones at
an evaluation size other than the run's.

    python3 tools/realpages/knn.py EMB.npy [EMB.npy ...]     # prints "EMB accuracy%"
"""
import csv
import sys

import numpy as np


def knn_accuracy(npy, k=200, t=0.1):
    x = np.load(npy)
    rows = list(csv.DictReader(open(npy[: -len(".npy")] + ".csv")))
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    test = np.array(["/test/" in r["path"] for r in rows])
    classes = sorted({r["label"] for r in rows})
    y = np.array([classes.index(r["label"]) for r in rows])
    sims = x[test] @ x[~test].T
    kk = min(k, int((~test).sum()))
    idx = np.argsort(-sims, axis=1)[:, :kk]
    weights = np.exp(np.take_along_axis(sims, idx, 1) / t)
    bank = y[~test][idx]
    votes = np.stack([(weights * (bank == c)).sum(1) for c in range(len(classes))], 1)
    return (votes.argmax(1) == y[test]).mean() * 100


if __name__ == "__main__":
    for f in sys.argv[1:]:
        print(f, f"{knn_accuracy(f):.1f}")
