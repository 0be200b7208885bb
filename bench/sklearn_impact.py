#!/usr/bin/python3
"""The work of `sluice impact --baseline-env base --sample-rows 0 --no-score`
done with pandas + scikit-learn, for bench/impact.sh: read the baseline and
the candidate table (pandas.read_sql over sqlite3), fit the same featuriser
(StandardScaler + mean imputation with missing indicators, one-hot with
max_categories=20) and LogisticRegression(C=1, lbfgs) on each side's 80%
(sluice's split: FNV-1a of the key's text, splitmix64's finaliser, % 5),
score each side's holdout and the baseline model on the candidate holdout,
and print the AUCs as JSON.

usage: sklearn_impact.py BASE_DB CAND_DB TABLE KEY LABEL INPUT...
"""
import json, sqlite3, sys
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

base_db, cand_db, table, key, label = sys.argv[1:6]
inputs = sys.argv[6:]
M = np.uint64(0xFFFFFFFFFFFFFFFF)

def holdout(ids):
    """sluice's split, vectorised over non-negative integer keys."""
    ids = np.asarray(ids, dtype=np.int64)
    ndig = np.floor(np.log10(np.maximum(ids, 1))).astype(np.int64) + 1
    h = np.full(len(ids), 0xcbf29ce484222325, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(int(ndig.max())):
            live = k < ndig
            p = np.power(10, np.maximum(ndig - 1 - k, 0))
            d = ((ids // p) % 10 + 48).astype(np.uint64)
            h = np.where(live, (h ^ d) * np.uint64(0x100000001b3), h)
        z = h
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xbf58476d1ce4e5b9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94d049bb133111eb)
        z = z ^ (z >> np.uint64(31))
    return z % np.uint64(5) == 0

def read(db):
    con = sqlite3.connect(db)
    cols = ", ".join('"%s"' % c for c in [key] + inputs + [label])
    df = pd.read_sql('SELECT %s FROM "%s"' % (cols, table), con)
    con.close()
    return df

def model(df, train):
    num = [c for c in inputs if df[c].dtype.kind in "if"]
    cat = [c for c in inputs if c not in num]
    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="mean", add_indicator=True), StandardScaler()), num),
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="__missing__"),
                              OneHotEncoder(max_categories=20, handle_unknown="infrequent_if_exist")), cat)])
    m = make_pipeline(pre, LogisticRegression(C=1.0, solver="lbfgs", max_iter=500))
    return m.fit(df.loc[train, inputs], df.loc[train, label])

out = {}
base, cand = read(base_db), read(cand_db)
hb, hc = holdout(base[key]), holdout(cand[key])
mb = model(base, ~hb)
mc = model(cand, ~hc)
out["baseline"] = roc_auc_score(base.loc[hb, label], mb.predict_proba(base.loc[hb, inputs])[:, 1])
out["candidate"] = roc_auc_score(cand.loc[hc, label], mc.predict_proba(cand.loc[hc, inputs])[:, 1])
out["serving"] = roc_auc_score(cand.loc[hc, label], mb.predict_proba(cand.loc[hc, inputs])[:, 1])
out["holdout_rows"] = int(hc.sum())
print(json.dumps(out))
