"""The modality simulator's records, send queue and reconciliation (no network: the AE is faked)."""
import array
import io
import json
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))

import modality_sim as ms  # noqa: E402  (after the sys.path set-up above)

UID_A, UID_B, UID_C, UID_D = "1.2.3.1", "1.2.3.2", "1.2.3.3", "1.2.3.4"


def store(uid, outcome="acknowledged", status=0, attempt=1, study="9.9"):
    if outcome == "no_response":
        status = None
    return {"type": "store", "t": 1.0, "worker": 0, "assoc": "w0-a%d" % attempt, "attempt": attempt, "study": study,
            "sop_instance_uid": uid, "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2", "bytes": 524288,
            "status": status, "outcome": outcome, "elapsed_ms": 50.0}


def assoc(outcome, attempt=1):
    return {"type": "association", "t": 1.0, "worker": 0, "assoc": "w0-a%d" % attempt, "attempt": attempt,
            "outcome": outcome, "elapsed_ms": 3.0, "detail": ""}


def test_mix_parsing():
    assert ms.parse_mix("ct:20,mg:4") == [("ct", 20), ("mg", 4)]
    assert ms.parse_mix("CT") == [("ct", 20)]
    for bad in ("xr:3", "ct:0", ""):
        with pytest.raises(ValueError):
            ms.parse_mix(bad)


def test_plan_cycles_kinds_with_unique_uids():
    studies = ms.plan_studies(3, [("ct", 3), ("mg", 4)], seed=1)
    assert [s["kind"] for s in studies] == ["ct", "mg", "ct"]
    uids = [i["sop_instance_uid"] for s in studies for i in s["instances"]]
    assert len(uids) == 10 == len(set(uids))
    assert len({s["study_instance_uid"] for s in studies}) == 3


def test_datasets_have_realistic_sizes_and_encode():
    from pydicom import dcmread
    ct, mg = ms.plan_studies(2, [("ct", 1), ("mg", 1)], seed=2)
    ds = ms.make_dataset(ct, ct["instances"][0])
    assert len(ds.PixelData) == 512 * 512 * 2 == ms.study_bytes(ct)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2" and ds.StudyInstanceUID == ct["study_instance_uid"]
    mg_ds = ms.make_dataset(mg, mg["instances"][0])
    assert 4e6 < len(mg_ds.PixelData) < 8e6 and mg_ds.Modality == "MG"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    back = dcmread(io.BytesIO(buf.getvalue()))
    assert back.SOPInstanceUID == ct["instances"][0]["sop_instance_uid"]
    words = array.array("H")
    words.frombytes(bytes(back.PixelData[:8192]))
    assert max(words) == 4095  # 12 bits stored


def test_recorder_writes_one_valid_json_object_per_line(tmp_path):
    path = tmp_path / "rec.jsonl"
    rec = ms.Recorder(str(path))
    rec.add(**{k: v for k, v in store(UID_A).items() if k != "t"})
    rec.add(**assoc("established"))
    rec.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    loaded = ms.load_records(str(path))
    assert loaded == rec.records
    assert all(ms.validate_record(r) == [] for r in loaded)
    assert isinstance(loaded[0]["t"], float)


def test_record_validation_names_the_problem():
    assert ms.validate_record({"type": "nope"}) == ["unknown record type 'nope'"]
    bad = store(UID_A)
    del bad["bytes"]
    assert ms.validate_record(bad) == ["store record lacks bytes"]
    assert "does not mean stored" in ms.validate_record(store(UID_A, status=0xA700))[0]
    assert ms.validate_record(store(UID_A, outcome="failed_status", status=0xA700)) == []
    assert "not one of" in ms.validate_record(assoc("maybe"))[0]


def test_summary_counts_retries_failures_and_give_ups():
    records = [
        assoc("connect_failed", 1),
        assoc("established", 2), store(UID_A, attempt=2), store(UID_B, "no_response", attempt=2), assoc("broken", 2),
        assoc("established", 3), store(UID_B, attempt=3), store(UID_C, "failed_status", 0xA700, attempt=3),
        assoc("released", 3),
        {"type": "gave_up", "t": 2.0, "study": "9.9", "sop_instance_uid": UID_C, "attempts": 4},
    ]
    summary = ms.summarize(records)
    assert summary["sent"] == 3 and summary["acknowledged"] == 2 and summary["store_requests"] == 4
    assert summary["failed_associations"] == 1 and summary["broken_associations"] == 1
    assert summary["retried"] == 1  # UID_B went twice
    assert summary["gave_up"] == 1 and summary["never_acknowledged"] == [UID_C]
    assert summary["no_response"] == 1 and summary["failed_status"] == 1
    assert summary["bytes_acknowledged"] == 2 * 524288


def test_reconcile_finds_missing_unacknowledged_and_duplicates():
    records = [store(UID_A), store(UID_B), store(UID_C, "no_response"), store(UID_D)]
    holdings = {"pacs1": {UID_A, UID_C, "7.7.7"}, "pacs2": {UID_A, UID_D}}
    result = ms.reconcile(records, holdings)
    assert result["missing_on_server"] == 1 and result["missing_uids"] == [UID_B]
    assert result["stored_unacknowledged"] == 1  # UID_C stored although its response was lost
    assert result["on_several_servers"] == 1  # UID_A (a retry after a lost response, or a bug)
    assert result["per_server"] == {"pacs1": 2, "pacs2": 2}  # foreign instances are ignored
    assert ms.exit_status(result) == 1
    clean = ms.reconcile(records, {"pacs1": {UID_A, UID_B, UID_D}})
    assert clean["missing_on_server"] == 0 and ms.exit_status(clean) == 0


def test_storescp_directory_names_and_contents(tmp_path):
    (tmp_path / ("CT." + UID_A + ".dcm")).write_bytes(b"x")
    (tmp_path / ("MG." + UID_B)).write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not DICOM")
    study = ms.plan_studies(1, [("ct", 1)], seed=3)[0]
    other = tmp_path / "sub"
    other.mkdir()
    path = ms.write_study_files(study, str(other))[0]
    os.rename(path, str(tmp_path / "renamed.bin"))
    assert ms.storescp_holdings(str(tmp_path)) == {UID_A, UID_B, study["instances"][0]["sop_instance_uid"]}


class FakeAssoc(object):
    def __init__(self, script, stores):
        self.script = list(script)
        self.stores = stores
        self.is_established = True
        self.is_rejected = self.is_aborted = False
        self.released = self.aborted = False

    def send_c_store(self, ds):
        from pydicom.dataset import Dataset
        status = self.script.pop(0) if self.script else 0
        self.stores.append((str(ds.SOPInstanceUID), status))
        if status is None:
            self.is_established = False
            return Dataset()
        rsp = Dataset()
        rsp.Status = status
        return rsp

    def release(self):
        self.released = True

    def abort(self):
        self.aborted = True


class FakeAE(object):
    """Plays a scripted sequence of associations: 'refused', 'rejected' or a list of C-STORE statuses."""
    plan = []
    stores = []

    def __init__(self, ae_title):
        self.ae_title = ae_title

    def add_requested_context(self, *args):
        pass

    def associate(self, host, port, ae_title, evt_handlers):
        step = FakeAE.plan.pop(0) if FakeAE.plan else []
        if step == "refused":
            dead = FakeAssoc([], FakeAE.stores)
            dead.is_established, dead.is_aborted = False, True
            return dead
        for _event, handler in evt_handlers:
            handler(None)  # connection open (no real socket: nodelay is off in these tests)
        if step == "rejected":
            rej = FakeAssoc([], FakeAE.stores)
            rej.is_established, rej.is_rejected = False, True
            return rej
        return FakeAssoc(step, FakeAE.stores)


@pytest.fixture
def fake_ae(monkeypatch):
    import pynetdicom
    monkeypatch.setattr(pynetdicom, "AE", FakeAE)
    FakeAE.plan, FakeAE.stores = [], []
    return FakeAE


def run_queue(studies, **kwargs):
    rec = ms.Recorder()
    sender = ms.SendQueue(studies, "192.0.2.1", 104, recorder=rec, backoff=0.001, backoff_max=0.002, seed=1, **kwargs)
    return sender.run()


def test_send_queue_retries_like_a_modality(fake_ae):
    studies = ms.plan_studies(1, [("ct", 3)], seed=4)
    uids = [i["sop_instance_uid"] for i in studies[0]["instances"]]
    # 1: TCP refused; 2: first image stored, then the association dies; 3: the rest goes through.
    fake_ae.plan = ["refused", [0, None], [0, 0]]
    records = run_queue(studies, max_retries=3)
    assert [r["outcome"] for r in records if r["type"] == "association"] == [
        "connect_failed", "established", "broken", "established", "released"]
    stores = [(r["sop_instance_uid"], r["outcome"], r["attempt"]) for r in records if r["type"] == "store"]
    assert stores == [(uids[0], "acknowledged", 2), (uids[1], "no_response", 2),
                      (uids[1], "acknowledged", 3), (uids[2], "acknowledged", 3)]
    summary = ms.summarize(records)
    assert (summary["acknowledged"], summary["retried"], summary["gave_up"]) == (3, 1, 0)
    assert all(ms.validate_record(r) == [] for r in records)


def test_send_queue_gives_up_after_max_retries_and_records_it(fake_ae):
    studies = ms.plan_studies(1, [("ct", 2)], seed=5)
    fake_ae.plan = ["refused", "rejected", "refused"]
    records = run_queue(studies, max_retries=2)
    assert [r["outcome"] for r in records if r["type"] == "association"] == [
        "connect_failed", "rejected", "connect_failed"]
    gave_up = [r for r in records if r["type"] == "gave_up"]
    assert len(gave_up) == 2 and {r["attempts"] for r in gave_up} == {3}
    summary = ms.summarize(records)
    assert summary["gave_up"] == 2 and summary["failed_associations"] == 3
    assert ms.exit_status(summary) == 2


def test_failure_status_is_resent_but_a_warning_counts_as_stored(fake_ae):
    studies = ms.plan_studies(1, [("ct", 2)], seed=6)
    fake_ae.plan = [[0xA700, 0xB000], [0]]
    records = run_queue(studies, max_retries=1)
    outcomes = [(r["status"], r["outcome"]) for r in records if r["type"] == "store"]
    assert outcomes == [(0xA700, "failed_status"), (0xB000, "acknowledged"), (0, "acknowledged")]
    assert ms.summarize(records)["acknowledged"] == 2


def test_records_are_json_serialisable(fake_ae):
    fake_ae.plan = [[0]]
    records = run_queue(ms.plan_studies(1, [("ct", 1)], seed=7))
    assert json.loads(json.dumps(records)) == records


def test_stop_file_ends_new_studies_but_not_retries(fake_ae, tmp_path):
    stop = tmp_path / "stop"
    studies = ms.plan_studies(3, [("ct", 1)], seed=8)
    # first study: refused once, then stored on its retry; the stop file appears after the first attempt
    fake_ae.plan = ["refused", [0], [0], [0]]
    real_associate = fake_ae.associate

    def associate(self, *args, **kwargs):
        stop.write_text("")
        return real_associate(self, *args, **kwargs)
    fake_ae.associate = associate
    try:
        records = run_queue(studies, max_retries=2, stop_file=str(stop))
    finally:
        fake_ae.associate = real_associate
    summary = ms.summarize(records)
    assert summary["acknowledged"] == 1 and summary["gave_up"] == 0, summary
    assert [r["outcome"] for r in records if r["type"] == "association"] == ["connect_failed", "established", "released"]


def test_across_counts_only_associations_open_at_the_moments():
    records = [
        {"type": "association", "outcome": "released", "t": 110.0, "elapsed_ms": 5000.0},   # 105-110: spans 107
        {"type": "association", "outcome": "broken", "t": 130.0, "elapsed_ms": 30000.0},    # 100-130: spans 107
        {"type": "association", "outcome": "released", "t": 104.0, "elapsed_ms": 1000.0},   # 103-104: before
        {"type": "association", "outcome": "broken", "t": 150.0, "elapsed_ms": 1000.0},     # 149-150: after
        {"type": "association", "outcome": "established", "t": 105.0},
    ]
    assert ms.across(records, [107.0]) == {"moments": 1, "open_at_moments": 2, "released": 1, "broken": 1,
                                           "moments_without_open": 0, "unanswered_near_moments": 0,
                                           "unanswered_elsewhere": 0}
    assert ms.across(records, [200.0])["open_at_moments"] == 0
    # 103.5 and 149.5 are spanned, 200 and 140 are not
    assert ms.across(records, [103.5, 140.0, 149.5, 200.0])["moments_without_open"] == 2
    # a request unanswered for 30 s, sent at 100.5: 1.5 s after a moment at 99 counts as near it, one at 97 not
    stalled = records + [{"type": "store", "outcome": "no_response", "t": 130.5, "elapsed_ms": 30000.0}]
    assert (ms.across(stalled, [99.0])["unanswered_near_moments"], ms.across(stalled, [99.0])["unanswered_elsewhere"]) == (1, 0)
    assert (ms.across(stalled, [97.0])["unanswered_near_moments"], ms.across(stalled, [97.0])["unanswered_elsewhere"]) == (0, 1)


def test_image_pause_holds_one_association_until_the_stop_file(fake_ae, tmp_path, monkeypatch):
    stop = tmp_path / "stop"
    studies = ms.plan_studies(2, [("ct", 50)], seed=9)
    fake_ae.plan = [[0] * 50, [0] * 50]
    real_store = FakeAssoc.send_c_store

    def store(self, ds):
        rsp = real_store(self, ds)
        if len(self.stores) == 3:
            stop.write_text("")  # appears while the third image is sent
        return rsp
    monkeypatch.setattr(FakeAssoc, "send_c_store", store)
    started = time.monotonic()
    records = run_queue(studies, stop_file=str(stop), image_pause=0.05)
    # one association, three images 50 ms apart, released; the unsent rest and the second study are not owed
    assert [r["outcome"] for r in records if r["type"] == "association"] == ["established", "released"]
    summary = ms.summarize(records)
    assert (summary["sent"], summary["acknowledged"], summary["gave_up"]) == (3, 3, 0), summary
    assert time.monotonic() - started >= 0.15
