#!/usr/bin/python3
"""Reference values for tests/unit/test_learn.c, from scikit-learn.

Writes three data sets as CSV (key, label, inputs; a column named c_* is
categorical, empty cells are missing) and expected.json with scikit-learn's
holdout metrics on them.  The holdout is sluice's: FNV-1a of the key's text,
splitmix64's finaliser, % 5 == 0.  The pipeline mirrors sluice's featuriser
(learn.h): StandardScaler on numerics with SimpleImputer(add_indicator=True)
mean imputation, OneHotEncoder(max_categories=20, handle_unknown=
'infrequent_if_exist') on categoricals with missing as its own value.

Run: /usr/bin/python3 tests/model/expected.py   (Debian python3-sklearn 1.2.1)
"""
import csv, json, os, sys
import numpy as np
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, log_loss, accuracy_score, f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
M64 = (1 << 64) - 1

def key_hash(s):
    h = 0xcbf29ce484222325
    for b in s.encode():
        h ^= b
        h = (h * 0x100000001b3) & M64
    z = h
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M64
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M64
    return z ^ (z >> 31)

def holdout(keys):
    return np.array([key_hash(k) % 5 == 0 for k in keys])

def write_csv(name, keys, y, cols):
    with open(os.path.join(HERE, name), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["key", "label"] + list(cols))
        for i, k in enumerate(keys):
            row = [k, repr(float(y[i]))]
            for c, v in cols.items():
                x = v[i]
                if x is None or (isinstance(x, float) and np.isnan(x)):
                    row.append("")
                elif isinstance(x, str):
                    row.append(x)
                else:
                    row.append(repr(float(np.float32(x))))   # sluice stores floats
            w.writerow(row)

def design(cols, train):
    num = [c for c in cols if not c.startswith("c_")]
    cat = [c for c in cols if c.startswith("c_")]
    Xn = np.column_stack([np.array(cols[c], dtype=np.float64) for c in num]) if num else None
    Xc = np.column_stack([np.array([v if v is not None else "__missing__" for v in cols[c]], dtype=object) for c in cat]) if cat else None
    parts = []
    if num:
        imp = SimpleImputer(strategy="mean", add_indicator=True).fit(Xn[train])
        sc = StandardScaler().fit(Xn[train])
        def fnum(X):
            Z = sc.transform(X)
            Z = np.where(np.isnan(Z), 0.0, Z)
            ind = imp.transform(X)[:, len(num):]
            return np.hstack([Z, ind])
        parts.append(fnum)
    if cat:
        oh = OneHotEncoder(max_categories=20, handle_unknown="infrequent_if_exist",
                           sparse_output=False).fit(Xc[train])
        parts.append(lambda X, oh=oh: oh.transform(X))
    def f(rows):
        out = []
        if num:
            out.append(parts[0](Xn[rows]))
        if cat:
            out.append(parts[-1](Xc[rows]))
        return np.hstack(out)
    return f

def logistic_case(name, keys, y, cols, C=1.0):
    hold = holdout(keys)
    train = ~hold
    f = design(cols, train)
    clf = LogisticRegression(C=C, solver="lbfgs", tol=1e-10, max_iter=100000).fit(f(train), y[train])
    p = clf.predict_proba(f(hold))[:, 1]
    write_csv(name + ".csv", keys, y, cols)
    return {"file": name + ".csv", "task": "binary", "C": C,
            "auc": roc_auc_score(y[hold], p), "logloss": log_loss(y[hold], p),
            "accuracy": accuracy_score(y[hold], p >= 0.5), "f1": f1_score(y[hold], p >= 0.5),
            "holdout_rows": int(hold.sum()), "train_rows": int(train.sum())}

def ridge_case(name, keys, y, cols, alpha=1.0):
    hold = holdout(keys)
    train = ~hold
    f = design(cols, train)
    X = f(train)
    xm, ym = X.mean(axis=0), y[train].mean()
    Xc = X - xm
    w = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(X.shape[1]), Xc.T @ (y[train] - ym))
    b = ym - xm @ w
    pred = f(hold) @ w + b
    write_csv(name + ".csv", keys, y, cols)
    return {"file": name + ".csv", "task": "regression", "alpha": alpha,
            "rmse": float(np.sqrt(np.mean((pred - y[hold]) ** 2))),
            "mae": float(np.mean(np.abs(pred - y[hold]))),
            "first_predictions": [float(v) for v in pred[:5]]}

def f32(a):
    return np.array(a, dtype=np.float32).astype(np.float64)

cases = []
# 1. breast cancer: 569 rows, 30 numeric inputs
bc = load_breast_cancer()
keys = [str(i) for i in range(len(bc.target))]
cases.append(logistic_case("breast_cancer", keys, bc.target.astype(float),
                           {n.replace(" ", "_"): f32(bc.data[:, j]) for j, n in enumerate(bc.feature_names)}))
# 2. synthetic: 4000 rows, numerics with missing values, a 30-valued
#    categorical (over max_categories) and a 4-valued one with missing
rng = np.random.default_rng(7)
n = 4000
x1 = rng.normal(size=n); x2 = rng.exponential(size=n); x3 = rng.uniform(-1, 1, size=n)
c1 = rng.integers(0, 30, size=n); c2 = rng.choice(["a", "b", "c", "d"], size=n, p=[.4, .3, .2, .1])
z = 0.8 * x1 - 0.5 * x2 + 0.3 * (c1 % 3 == 0) + np.where(c2 == "a", 0.6, -0.2) + rng.logistic(size=n) * 0.8
y = (z > 0).astype(float)
x2m = x2.copy(); x2m[rng.random(n) < 0.1] = np.nan
c2m = [None if rng.random() < 0.05 else v for v in c2]
keys = ["u%05d" % i for i in range(n)]
cases.append(logistic_case("synthetic", keys, y,
                           {"x1": f32(x1), "x2": f32(x2m), "x3": f32(x3),
                            "c_bucket": ["b%02d" % v for v in c1], "c_grade": c2m}, C=0.5))
# 3. diabetes: ridge, 10 numerics and a categorical
db = load_diabetes()
keys = [str(1000 + i) for i in range(len(db.target))]
cols = {n: f32(db.data[:, j]) for j, n in enumerate(db.feature_names)}
cols["c_sexcat"] = ["m" if v > 0 else "f" for v in db.data[:, 1]]
cases.append(ridge_case("diabetes", keys, db.target.astype(float), cols, alpha=1.0))

with open(os.path.join(HERE, "expected.json"), "w") as f:
    json.dump({"made_by": "scikit-learn %s, numpy %s (tests/model/expected.py)" % (sklearn.__version__, np.__version__),
               "cases": cases}, f, indent=1)
print(json.dumps(cases, indent=1))
