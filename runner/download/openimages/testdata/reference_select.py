"""Run the reference's open_images_downloader.py on a folder that already holds the
release's CSV files, without network and without downloading images, under
np.random.seed(SEED), so that its sub-<split>-annotations-bbox.csv files can be compared
with ours.

usage: reference_select.py SCRIPT ROOT CLASSES SEED INCLUDE_DEPICTION(0|1) REMOVE_OVERLAPPED(0|1) [FILTER_FILE]

Stubs: boto3/botocore (the image client; its download_file does nothing), urlopen (fails:
the CSVs must be present), multiprocessing's Pool and Manager (run serially). The script's
include_depiction is a positional store_true argument, which argparse always sets: the
value asked for is set after parsing, so both branches of its depiction filter run.
"""
import argparse
import runpy
import sys
import types
import urllib.request

import numpy as np
import pandas as pd

script, root, classes, seed, depiction, overlapped = sys.argv[1:7]
filter_file = sys.argv[7] if len(sys.argv) > 7 else ""


class ClientError(Exception):
    pass


boto3 = types.ModuleType("boto3")
boto3.client = lambda *a, **k: types.SimpleNamespace(download_file=lambda *a, **k: None)
botocore = types.ModuleType("botocore")
botocore.UNSIGNED = object()
botocore_config = types.ModuleType("botocore.config")
botocore_config.Config = lambda **k: None
botocore_exceptions = types.ModuleType("botocore.exceptions")
botocore_exceptions.ClientError = ClientError
botocore.config, botocore.exceptions = botocore_config, botocore_exceptions
sys.modules.update({"boto3": boto3, "botocore": botocore, "botocore.config": botocore_config,
                    "botocore.exceptions": botocore_exceptions})


def no_network(*a, **k):
    raise RuntimeError("the test forbids network access: %r" % (a,))


urllib.request.urlopen = no_network


class SerialPool:
    def __init__(self, *a, **k):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def map(self, f, items):
        return [f(x) for x in items]


class Value:
    def __init__(self, v):
        self.value = v


class Lock:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


import multiprocessing  # noqa: E402

multiprocessing.Pool = SerialPool
multiprocessing.Manager = lambda: types.SimpleNamespace(Value=lambda t, v: Value(v), Lock=Lock)

if not hasattr(pd.Series, "iteritems"):  # removed in pandas 2
    pd.Series.iteritems = pd.Series.items

parse = argparse.ArgumentParser.parse_args


def parse_args(self, args=None, namespace=None):
    ns = parse(self, args, namespace)
    ns.include_depiction = depiction == "1"
    return ns


argparse.ArgumentParser.parse_args = parse_args

argv = [script, "--root", root, "--class_names", classes, "--num_workers", "1"]
if overlapped == "1":
    argv.append("--remove_overlapped")
if filter_file:
    argv += ["--filter_file", filter_file]
sys.argv = argv
np.random.seed(int(seed))
runpy.run_path(script, run_name="__main__")
