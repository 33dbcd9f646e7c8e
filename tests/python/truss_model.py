# SPDX-License-Identifier: MIT
"""One replica of the Truss example of b10-transfer's README, unchanged.

The class below is the "For Standard Models (model.py)" example of
b10-transfer 0.3.17's README, as published (it uses torch and YourModel
without defining them).  This harness gives it a stand-in torch whose
compile() writes graphs into TORCHINDUCTOR_CACHE_DIR the way inductor does,
runs Model().load() once, and prints what happened as JSON: replica A
compiles and saves, replica B loads and compiles nothing.
"""
import json
import os
import sys
import types

COMPILED = []


class _Compiled:
    def __init__(self, model):
        self.model = model

    def __call__(self, x):
        d = os.path.join(os.environ["TORCHINDUCTOR_CACHE_DIR"], "fxgraph", "xy")
        p = os.path.join(d, "graph_%d" % (len(x) % 7))
        if os.path.exists(p):  # a cache hit: nothing compiled
            return x
        os.makedirs(d, exist_ok=True)
        with open(p, "w") as f:
            f.write("compiled %s\n" % x)
        COMPILED.append(x)
        return x


class YourModel:
    def to(self, device):
        return self


torch = types.SimpleNamespace(compile=lambda model, mode=None: _Compiled(model))

# ---- b10-transfer 0.3.17 README, "For Standard Models (model.py)" ----
from b10_transfer import load_compile_cache, save_compile_cache, OperationStatus

class Model:
    def load(self):
        # Load your model first
        self.model = YourModel().to("cuda")
        
        # Try to load existing compile cache
        cache_loaded = load_compile_cache()
        
        if cache_loaded == OperationStatus.ERROR:
            print("Run in eager mode, skipping torch compile")
        else:
            # Compile your model
            self.model = torch.compile(self.model, mode="max-autotune-no-cudagraphs")
            
            # Warm up with representative inputs to trigger compilation
            self.model("dummy input")
            self.model("another dummy input")
            
            # Save cache if it was newly created
            if cache_loaded != OperationStatus.SUCCESS:
                save_compile_cache()
# ---- end of the README's example ----

if __name__ == "__main__":
    m = Model()
    m.load()
    store = os.environ["B10FS_CACHE_DIR"]
    json.dump({"compiled": len(COMPILED),
               "archives": sorted(n for n in os.listdir(store) if ".tar." in n and ".incomplete." not in n)}, sys.stdout)
