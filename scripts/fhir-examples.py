#!/usr/bin/env python3
"""Writes examples/fhir/<name>.bundle.json: the example encounters of examples/encounters/
re-expressed as FHIR R4 collection bundles (one resource per contract item), the way an
EMR's FHIR facade would send them. The Rust mapper (src/fhir/) is NOT used here: this is
the opposite direction, written from the FHIR R4 specification, so tests/it/fhir.rs can
check that mapping the bundle back gives the same QC statuses as the proto JSON.

    python3 scripts/fhir-examples.py stemi_primary_pci stroke_thrombolysis

Elements FHIR R4 core has no place for use the project extensions of docs/FHIR-MAPPING.md.
"""
import base64
import json
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXT = "urn:cdssd:fhir:extension:"
UCUM = "http://unitsofmeasure.org"
SYSTEMS = {
    "ICD-10": "http://hl7.org/fhir/sid/icd-10",
    "LOINC": "http://loinc.org",
    "ATC": "http://www.whocc.no/atc",
    "ICD-9-CM-3": "http://hl7.org/fhir/sid/icd-9-cm",
    "SNOMED-CT": "http://snomed.info/sct",
    "ICD-10-PCS": "http://www.cms.gov/Medicare/Coding/ICD10",
}
CLASS = {"ENCOUNTER_CLASS_INPATIENT": "IMP", "ENCOUNTER_CLASS_EMERGENCY": "EMER",
         "ENCOUNTER_CLASS_OUTPATIENT": "AMB", "ENCOUNTER_CLASS_OBSERVATION": "OBSENC"}
DISPOSITION = {"DISCHARGE_DISPOSITION_HOME": "home", "DISCHARGE_DISPOSITION_TRANSFER_ACUTE_CARE": "other-hcf",
               "DISCHARGE_DISPOSITION_SKILLED_NURSING": "snf", "DISCHARGE_DISPOSITION_HOSPICE": "hosp",
               "DISCHARGE_DISPOSITION_LEFT_AGAINST_ADVICE": "aadvice", "DISCHARGE_DISPOSITION_EXPIRED": "exp",
               "DISCHARGE_DISPOSITION_OTHER": "oth"}
ORDER = {"ORDER_STATUS_ACTIVE": "active", "ORDER_STATUS_COMPLETED": "completed", "ORDER_STATUS_DISCONTINUED": "stopped",
         "ORDER_STATUS_CANCELLED": "cancelled", "ORDER_STATUS_DRAFT": "draft", "ORDER_STATUS_ON_HOLD": "on-hold"}
ADMIN = {"ADMINISTRATION_STATUS_COMPLETED": "completed", "ADMINISTRATION_STATUS_IN_PROGRESS": "in-progress",
         "ADMINISTRATION_STATUS_STOPPED": "stopped", "ADMINISTRATION_STATUS_NOT_GIVEN": "not-done"}
OBS_STATUS = {"OBSERVATION_STATUS_REGISTERED": "registered", "OBSERVATION_STATUS_PRELIMINARY": "preliminary",
              "OBSERVATION_STATUS_AMENDED": "amended", "OBSERVATION_STATUS_CORRECTED": "corrected",
              "OBSERVATION_STATUS_CANCELLED": "cancelled", "OBSERVATION_STATUS_ENTERED_IN_ERROR": "entered-in-error"}
POA = {"PRESENT_ON_ADMISSION_YES": "Y", "PRESENT_ON_ADMISSION_NO": "N", "PRESENT_ON_ADMISSION_UNKNOWN": "U",
       "PRESENT_ON_ADMISSION_CLINICALLY_UNDETERMINED": "W"}
VERIFICATION = {"VERIFICATION_STATUS_CONFIRMED": "confirmed", "VERIFICATION_STATUS_PROVISIONAL": "provisional",
                "VERIFICATION_STATUS_DIFFERENTIAL": "differential", "VERIFICATION_STATUS_UNCONFIRMED": "unconfirmed",
                "VERIFICATION_STATUS_REFUTED": "refuted", "VERIFICATION_STATUS_ENTERED_IN_ERROR": "entered-in-error"}
REASON_CLASS = {"REASON_CLASS_CLINICAL_CONTRAINDICATION": "clinical-contraindication", "REASON_CLASS_PATIENT_REFUSAL": "patient-refusal",
                "REASON_CLASS_SYSTEM_LOGISTICS": "system-logistics", "REASON_CLASS_OTHER": "other"}
ROLE = {"PRACTITIONER_ROLE_PHYSICIAN": "physician", "PRACTITIONER_ROLE_ADVANCED_PRACTICE_NURSE": "advanced-practice-nurse",
        "PRACTITIONER_ROLE_PHYSICIAN_ASSISTANT": "physician-assistant", "PRACTITIONER_ROLE_PHARMACIST": "pharmacist",
        "PRACTITIONER_ROLE_NURSE": "nurse", "PRACTITIONER_ROLE_OTHER": "other"}
LOCAL_OFFSET = timedelta(hours=8)  # the examples' hospital: Asia/Shanghai


def local(t):
    """An RFC 3339 UTC instant of the examples → a FHIR dateTime in +08:00 (as an EMR in Shanghai writes it)."""
    u = datetime.fromisoformat(t.replace("Z", "+00:00"))
    return (u + LOCAL_OFFSET).strftime("%Y-%m-%dT%H:%M:%S") + "+08:00"


def coding(c):
    out = {"system": SYSTEMS.get(c["system"], c["system"]), "code": c["code"]}
    if c.get("display"):
        out["display"] = c["display"]
    return out


def codings(item, single="code", many="codings"):
    cs = ([item[single]] if item.get(single) else []) + item.get(many, [])
    return {"coding": [coding(c) for c in cs]}


def quantity(q):
    out = {"value": q["value"], "unit": q["unit"], "system": UCUM, "code": q["unit"]}
    cmp = {"QUANTITY_COMPARATOR_LESS_THAN": "<", "QUANTITY_COMPARATOR_LESS_OR_EQUAL": "<=",
           "QUANTITY_COMPARATOR_GREATER_OR_EQUAL": ">=", "QUANTITY_COMPARATOR_GREATER_THAN": ">"}.get(q.get("comparator"))
    if cmp:
        out["comparator"] = cmp
    return out


def ext(name, **value):
    return {"url": EXT + name, **value}


def ref(kind, id_):
    return {"reference": f"{kind}/{id_}"}


def birth_date(age, arrival):
    """A birth date that gives exactly `age` whole years at arrival (FHIR Patient has no age)."""
    a = datetime.fromisoformat(arrival.replace("Z", "+00:00")) + LOCAL_OFFSET
    return (date(a.year - age - 1, a.month, 1) + timedelta(days=200)).isoformat()


def convert(e):
    pid, eid = e["patient"]["id"], e["id"]
    subject = ref("Patient", pid)
    pat = {"resourceType": "Patient", "id": pid,
           "gender": {"SEX_MALE": "male", "SEX_FEMALE": "female", "SEX_OTHER": "other"}.get(e["patient"].get("sex"), "unknown")}
    pat["birthDate"] = e["patient"].get("birthDate") or birth_date(e["patient"]["ageYears"], e["arrivalTime"])
    enc = {"resourceType": "Encounter", "id": eid, "status": "finished" if e.get("dischargeTime") else "in-progress",
           "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": CLASS[e["encounterClass"]]},
           "subject": subject, "period": {"start": local(e["arrivalTime"])}}
    if e.get("dischargeTime"):
        enc["period"]["end"] = local(e["dischargeTime"])
    if e.get("admissionTime") and e["admissionTime"] != e["arrivalTime"]:
        inpatient = {"class": {"code": "IMP"}, "period": {"start": local(e["admissionTime"])}}
        if e.get("dischargeTime"):
            inpatient["period"]["end"] = local(e["dischargeTime"])
        enc["classHistory"] = [
            {"class": {"code": "EMER"}, "period": {"start": local(e["arrivalTime"]), "end": local(e["admissionTime"])}},
            inpatient]
    if e.get("department"):
        enc["serviceType"] = {"coding": [{"system": "LOCAL", "code": e["department"]}]}
    hosp = {}
    if e.get("transferredIn"):
        hosp["admitSource"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/admit-source", "code": "hosp-trans"}]}
    if e.get("dischargeDisposition") in DISPOSITION:
        hosp["dischargeDisposition"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/discharge-disposition",
                                                    "code": DISPOSITION[e["dischargeDisposition"]]}]}
    if hosp:
        enc["hospitalization"] = hosp
    exts = []
    for field, name in [("symptomOnsetTime", "symptom-onset"), ("lastKnownWellTime", "last-known-well"),
                        ("prehospitalEcgTime", "prehospital-ecg")]:
        if e.get(field):
            exts.append(ext(name, valueDateTime=local(e[field])))
    if "firstAdmission" in e:
        exts.append(ext("first-admission", valueBoolean=e["firstAdmission"]))
    if exts:
        enc["extension"] = exts
    out = [pat, enc]
    diagnosis = []
    for d in e.get("diagnoses", []):
        rank = d.get("rank")
        entry = {"condition": ref("Condition", d["id"]),
                 "use": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/diagnosis-role",
                                     "code": "AD" if rank == "DIAGNOSIS_RANK_ADMITTING" else "DD"}]},
                 "rank": 1 if rank in ("DIAGNOSIS_RANK_PRINCIPAL", "DIAGNOSIS_RANK_ADMITTING") else len(diagnosis) + 2}
        if d.get("presentOnAdmission") in POA:
            entry["extension"] = [ext("present-on-admission", valueCode=POA[d["presentOnAdmission"]])]
        diagnosis.append(entry)
        c = {"resourceType": "Condition", "id": d["id"],
             "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "encounter-diagnosis"}]}],
             "code": codings(d), "subject": subject, "encounter": ref("Encounter", eid)}
        if d.get("verificationStatus") in VERIFICATION:
            c["verificationStatus"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                                   "code": VERIFICATION[d["verificationStatus"]]}]}
        if d.get("onsetTime"):
            c["onsetDateTime"] = local(d["onsetTime"])
        if d.get("recordedTime"):
            c["recordedDate"] = local(d["recordedTime"])
        out.append(c)
    if diagnosis:
        enc["diagnosis"] = diagnosis
    for field, category in [("vitals", "vital-signs"), ("labs", "laboratory"), ("assessments", "survey")]:
        for o in e.get(field, []):
            r = {"resourceType": "Observation", "id": o["id"], "status": OBS_STATUS.get(o.get("status"), "final"),
                 "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}]}],
                 "code": codings(o), "subject": subject, "encounter": ref("Encounter", eid),
                 "effectiveDateTime": local(o["effectiveTime"])}
            if o.get("issuedTime"):
                r["issued"] = local(o["issuedTime"])
            if "quantity" in o:
                r["valueQuantity"] = quantity(o["quantity"])
            elif "coded" in o:
                r["valueCodeableConcept"] = {"coding": [coding(c) for c in o["coded"].get("codings", [])]}
                if o["coded"].get("text"):
                    r["valueCodeableConcept"]["text"] = o["coded"]["text"]
            elif "text" in o:
                r["valueString"] = o["text"]
            if o.get("referenceRange"):
                rr, unit = o["referenceRange"], o["referenceRange"].get("unit", "")
                r["referenceRange"] = [{k: {"value": rr[k], "unit": unit, "system": UCUM, "code": unit} for k in ("low", "high") if k in rr}]
            out.append(r)
    for m in e.get("medicationOrders", []):
        r = {"resourceType": "MedicationRequest", "id": m["id"], "status": ORDER.get(m.get("status"), "active"), "intent": "order",
             "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                                       "code": "discharge" if m.get("dischargeMedication") else "inpatient"}]}],
             "medicationCodeableConcept": {**codings(m, "none", "codes"), "text": m.get("name", "")},
             "subject": subject, "encounter": ref("Encounter", eid), "authoredOn": local(m["orderTime"])}
        dosage = {}
        if m.get("frequency") or m.get("endTime"):
            timing = {}
            if m.get("frequency"):
                timing["code"] = {"coding": [{"system": "LOCAL", "code": m["frequency"]}]}
            if m.get("endTime"):
                timing["repeat"] = {"boundsPeriod": {"end": local(m["endTime"])}}
            dosage["timing"] = timing
        route = route_of(m)
        if route:
            dosage["route"] = route
        dr = {}
        if m.get("dose"):
            dr["doseQuantity"] = quantity(m["dose"])
        if m.get("doseRate"):
            dr["rateQuantity"] = quantity(m["doseRate"])
        if dr:
            dosage["doseAndRate"] = [dr]
        if dosage:
            r["dosageInstruction"] = [dosage]
        out.append(r)
    for a in e.get("medicationAdministrations", []):
        r = {"resourceType": "MedicationAdministration", "id": a["id"], "status": ADMIN[a["status"]],
             "medicationCodeableConcept": {**codings(a, "none", "codes"), "text": a.get("name", "")},
             "subject": subject, "context": ref("Encounter", eid)}
        if a.get("endTime"):
            r["effectivePeriod"] = {"start": local(a["startTime"]), "end": local(a["endTime"])}
        else:
            r["effectiveDateTime"] = local(a["startTime"])
        if a.get("orderId"):
            r["request"] = ref("MedicationRequest", a["orderId"])
        if a.get("reasonNotGiven") or a.get("reasonText"):
            sr = {}
            if a.get("reasonNotGiven"):
                sr["coding"] = [coding(a["reasonNotGiven"])]
            if a.get("reasonText"):
                sr["text"] = a["reasonText"]
            r["statusReason"] = [sr]
        x = []
        if a.get("reasonClass") in REASON_CLASS:
            x.append(ext("reason-class", valueCode=REASON_CLASS[a["reasonClass"]]))
        if a.get("reasonDocumentedBy") in ROLE:
            x.append(ext("reason-documented-by", valueCode=ROLE[a["reasonDocumentedBy"]]))
        if x:
            r["extension"] = x
        dosage = {}
        route = route_of(a)
        if route:
            dosage["route"] = route
        if a.get("dose"):
            dosage["dose"] = quantity(a["dose"])
        if a.get("doseRate"):
            dosage["rateQuantity"] = quantity(a["doseRate"])
        if dosage:
            r["dosage"] = dosage
        out.append(r)
    for p in e.get("procedures", []):
        r = {"resourceType": "Procedure", "id": p["id"], "status": "completed", "code": codings(p), "subject": subject,
             "encounter": ref("Encounter", eid)}
        if p.get("endTime"):
            r["performedPeriod"] = {"start": local(p["startTime"]), "end": local(p["endTime"])}
        else:
            r["performedDateTime"] = local(p["startTime"])
        if p.get("guidewireCrossingTime"):
            r["extension"] = [ext("guidewire-crossing", valueDateTime=local(p["guidewireCrossingTime"]))]
        out.append(r)
    for a in e.get("allergies", []):
        r = {"resourceType": "AllergyIntolerance", "id": a["id"], "patient": subject, "code": codings(a, "substance", "substanceCodings")}
        t = a.get("type")
        if t == "ALLERGY_TYPE_ALLERGY":
            r["type"] = "allergy"
        elif t == "ALLERGY_TYPE_INTOLERANCE":
            r["type"] = "intolerance"
        elif t == "ALLERGY_TYPE_CONTRAINDICATION":
            r["extension"] = [ext("allergy-type", valueCode="contraindication")]
        if a.get("reaction"):
            r["reaction"] = [{"manifestation": [{"coding": [coding(a["reaction"])]}]}]
        if a.get("recordedTime"):
            r["recordedDate"] = local(a["recordedTime"])
        out.append(r)
    for n in e.get("notes", []):
        out.append({"resourceType": "DocumentReference", "id": n["id"], "status": "current",
                    "type": {"coding": [coding(n["type"])]}, "subject": subject, "date": local(n["authoredTime"]),
                    "content": [{"attachment": {"contentType": "text/plain; charset=utf-8",
                                                "data": base64.b64encode(n["text"].encode()).decode()}}],
                    "context": {"encounter": [ref("Encounter", eid)]}})
    seen = set()
    for r in out:
        if (r["resourceType"], r["id"]) in seen:
            raise SystemExit(f"{r['resourceType']}/{r['id']}: two items would share one FHIR id")
        seen.add((r["resourceType"], r["id"]))
    for key in e:
        if key not in HANDLED:
            raise SystemExit(f"{key}: not converted (extend scripts/fhir-examples.py)")
    return {"resourceType": "Bundle", "id": f"bundle-{eid}", "type": "collection",
            "entry": [{"fullUrl": f"http://example.org/fhir/{r['resourceType']}/{r['id']}", "resource": r} for r in out]}


HANDLED = {"id", "patient", "encounterClass", "department", "arrivalTime", "admissionTime", "dischargeTime",
           "dischargeDisposition", "transferredIn", "symptomOnsetTime", "lastKnownWellTime", "prehospitalEcgTime",
           "firstAdmission", "diagnoses", "vitals", "labs", "assessments", "medicationOrders",
           "medicationAdministrations", "procedures", "allergies", "notes"}


def route_of(m):
    route = {}
    if m.get("route"):
        route["text"] = m["route"]
    if m.get("routeCode"):
        route["coding"] = [coding(m["routeCode"])]
    return route


def main():
    for name in sys.argv[1:]:
        e = json.loads((ROOT / "examples/encounters" / f"{name}.json").read_text())
        target = ROOT / "examples/fhir" / f"{name}.bundle.json"
        target.parent.mkdir(exist_ok=True)
        target.write_text(json.dumps(convert(e), indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
