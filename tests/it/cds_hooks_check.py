"""Parse cdssd's CDS Hooks documents with an independent model: healthchain's pydantic
CDS Hooks 2.0 models (PyPI, installed by scripts/setup.sh into .cache/cdshooks-venv).

Usage: python cds_hooks_check.py discovery|response|request FILE.json
Prints one line `ok KIND N` (N = services or cards) or fails with the validation error.
"""
import json
import sys

from healthchain.models.requests.cdsrequest import CDSRequest
from healthchain.models.responses.cdsdiscovery import CDSServiceInformation
from healthchain.models.responses.cdsresponse import CDSResponse

kind, path = sys.argv[1], sys.argv[2]
with open(path, encoding="utf-8") as f:
    doc = json.load(f)
if kind == "discovery":
    info = CDSServiceInformation.model_validate(doc)
    print("ok discovery", len(info.services))
elif kind == "response":
    resp = CDSResponse.model_validate(doc)
    for card in resp.cards:
        # The model checks summary <= 140 characters, the indicator and link enums.
        assert card.suggestions is None and card.selectionBehavior is None, "a card proposes an action"
    print("ok response", len(resp.cards))
elif kind == "request":
    CDSRequest.model_validate(doc)
    print("ok request 1")
else:
    sys.exit(f"unknown kind {kind}")
