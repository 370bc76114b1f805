"""Modality simulator: concurrent C-STORE senders with a send queue, a record of every instance, reconciliation.

What a modality (or a modality's DICOM router) does, reduced to what a load
balancer test needs:

- several associations at once (one thread each), each taking whole studies
  from a shared send queue: CT studies of 512x512x16-bit slices (~0.5 MB each)
  and mammography studies of 4 views (~5 MB each);
- a study that could not be sent (association refused, aborted, timed out,
  failure status) goes back to the queue with what is still unacknowledged,
  after a back-off, at most ``max_retries`` times; after that its remaining
  instances are given up and recorded as such;
- every SOP Instance UID and every association attempt is recorded with its
  outcome (JSON lines, one object per line, see RECORD_FIELDS);
- ``reconcile`` compares the records with what the servers hold (Orthanc REST
  ``POST /tools/find`` at Instance level, or a DCMTK ``storescp`` output
  directory): every acknowledged instance must be on a server
  (``missing_on_server`` must be 0).

CLI:
  python tests/lab/modality_sim.py send --host 198.18.40.80 --port 104 \
      --associations 4 --studies 8 --mix ct:20,mg:4 --records out.jsonl --orthanc http://198.18.40.98:8042
  python tests/lab/modality_sim.py reconcile --records out.jsonl --storescp-dir /tmp/sink
Exit status: 0 all acknowledged instances found (or no lookup asked for), 1 some acknowledged instance is
missing on the servers, 2 some instances were given up (never acknowledged).
"""
import argparse
import array
import collections
import json
import os
import queue
import random
import re
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

# C-STORE response statuses after which the SCP has the instance (PS3.4 B.2.3, PS3.7 C):
# success, and the warnings "coercion of data elements", "elements discarded",
# "data set does not match SOP class".
STORED_STATUSES = frozenset((0x0000, 0x0001, 0x0107, 0x0116, 0xB000, 0xB006, 0xB007))

RECORD_FIELDS = {
    "store": ("type", "t", "worker", "assoc", "attempt", "study", "sop_instance_uid", "sop_class_uid",
              "bytes", "status", "outcome", "elapsed_ms"),
    "association": ("type", "t", "worker", "assoc", "attempt", "outcome", "elapsed_ms", "detail"),
    "gave_up": ("type", "t", "study", "sop_instance_uid", "attempts"),
}
STORE_OUTCOMES = ("acknowledged", "failed_status", "no_response")
ASSOCIATION_OUTCOMES = ("established", "rejected", "aborted", "connect_failed", "broken", "released")

KINDS = {
    # kind: (SOP class keyword, rows, columns, modality, default images per study)
    "ct": ("CTImageStorage", 512, 512, "CT", 20),
    "mg": ("DigitalMammographyXRayImageStorageForPresentation", 2048, 1280, "MG", 4),
}


# ---------------------------------------------------------------- studies and data sets

def parse_mix(text):
    """'ct:20,mg:4' -> [('ct', 20), ('mg', 4)]: the study kinds to cycle through, with images per study."""
    mix = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        kind, _sep, count = part.partition(":")
        kind = kind.strip().lower()
        if kind not in KINDS:
            raise ValueError("unknown study kind %r (known: %s)" % (kind, ", ".join(sorted(KINDS))))
        images = int(count) if count.strip() else KINDS[kind][4]
        if images < 1:
            raise ValueError("a study needs at least one image: %r" % part)
        mix.append((kind, images))
    if not mix:
        raise ValueError("empty study mix")
    return mix


def plan_studies(count, mix, seed=None):
    """The studies a modality will send: a list of dicts with UIDs decided up front (stable records)."""
    from pydicom.uid import generate_uid
    rng = random.Random(seed)
    studies = []
    for number in range(count):
        kind, images = mix[number % len(mix)]
        patient = "SIM%06d" % rng.randrange(1000000)
        study_uid, series_uid = generate_uid(), generate_uid()
        studies.append({
            "kind": kind, "patient_id": patient, "study_instance_uid": study_uid, "series_instance_uid": series_uid,
            "instances": [{"sop_instance_uid": generate_uid(), "number": i + 1} for i in range(images)],
        })
    return studies


_PIXELS = {}
_PIXELS_LOCK = threading.Lock()


def _pixels(rows, columns):
    """One shared 16-bit ramp per image size: realistic size, no per-image CPU cost."""
    key = (rows, columns)
    with _PIXELS_LOCK:
        if key not in _PIXELS:
            ramp = array.array("H", range(4096)).tobytes()  # 12-bit ramp, 16 bits allocated
            if sys.byteorder != "little":
                swapped = array.array("H", ramp)
                swapped.byteswap()
                ramp = swapped.tobytes()
            size = rows * columns * 2
            _PIXELS[key] = (ramp * (size // len(ramp) + 1))[:size]
        return _PIXELS[key]


def make_dataset(study, instance):
    """A valid image data set (Explicit VR Little Endian) for one planned instance."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom import uid as pyuid
    sop_keyword, rows, columns, modality, _images = KINDS[study["kind"]]
    sop_class = getattr(pyuid, sop_keyword)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pyuid.ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = instance["sop_instance_uid"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = instance["sop_instance_uid"]
    ds.PatientName = "SIM^%s" % study["patient_id"]
    ds.PatientID = study["patient_id"]
    ds.StudyInstanceUID = study["study_instance_uid"]
    ds.SeriesInstanceUID = study["series_instance_uid"]
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", 1, instance["number"]
    ds.Modality = modality
    ds.StudyDate = ds.SeriesDate = time.strftime("%Y%m%d")
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if modality == "MG":
        ds.ImageLaterality = "LR"[instance["number"] % 2]
        ds.ViewPosition = ("CC", "MLO")[(instance["number"] - 1) // 2 % 2]
        ds.PresentationIntentType = "FOR PRESENTATION"
    else:
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SliceThickness = "1.0"
        ds.ImagePositionPatient = [0, 0, instance["number"]]
    ds.PixelData = _pixels(rows, columns)
    return ds


def write_study_files(study, directory):
    """Write a planned study as DICOM files (for DCMTK storescu); returns the paths."""
    paths = []
    for instance in study["instances"]:
        path = os.path.join(directory, "%s.dcm" % instance["sop_instance_uid"])
        make_dataset(study, instance).save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def study_bytes(study):
    rows, columns = KINDS[study["kind"]][1:3]
    return rows * columns * 2 * len(study["instances"])


# ---------------------------------------------------------------- sending

class Recorder(object):
    """Thread-safe list of records, optionally streamed to a JSON-lines file."""

    def __init__(self, path=None):
        self.records = []
        self._lock = threading.Lock()
        self._file = open(path, "w", encoding="utf-8") if path else None  # pylint: disable=consider-using-with

    def add(self, **record):
        record.setdefault("t", round(time.time(), 6))
        with self._lock:
            self.records.append(record)
            if self._file:
                self._file.write(json.dumps(record, sort_keys=True) + "\n")
                self._file.flush()
        return record

    def close(self):
        if self._file:
            self._file.close()
            self._file = None


def _conn_open_handler(opened, nodelay):
    """EVT_CONN_OPEN handler: notes that TCP connected; with nodelay, Nagle off on the socket (TCP_NODELAY profile)."""
    def handler(event):
        opened.append(time.monotonic())
        if nodelay:
            event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return handler


def _status_of(rsp):
    status = getattr(rsp, "Status", None) if rsp is not None else None
    return int(status) if status is not None else None


class SendQueue(object):
    """The modality's send queue: whole studies, retried with back-off, bounded in attempts and time."""

    def __init__(self, studies, host, port, called_ae="ORTHANC", calling_ae="MODALITY1", associations=1,
                 max_retries=3, backoff=0.5, backoff_max=8.0, nodelay=False, dimse_timeout=30, acse_timeout=15,
                 connect_timeout=5, time_limit=600, recorder=None, pause_between_studies=0.0, seed=None,
                 stop_file=None, image_pause=0.0):
        self.host, self.port = host, int(port)
        self.called_ae, self.calling_ae = called_ae, calling_ae
        self.associations = max(1, int(associations))
        self.max_retries, self.backoff, self.backoff_max = int(max_retries), float(backoff), float(backoff_max)
        self.nodelay = bool(nodelay)
        self.timeouts = {"dimse": dimse_timeout, "acse": acse_timeout, "connect": connect_timeout}
        self.deadline = time.monotonic() + float(time_limit)
        self.recorder = recorder or Recorder()
        self.pause_between_studies = float(pause_between_studies)
        # Once this file exists no new study is started; retries of started ones go on.
        self.stop_file = stop_file
        # A pause between the images of one association (a slow modality, or a
        # technologist sending image by image). With a stop file, such a study
        # ends at the next image once the file exists and the rest of it is never
        # sent: one long study then holds one association open until that moment.
        self.image_pause = float(image_pause)
        self._rng = random.Random(seed)
        self._queue = queue.Queue()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._assoc_counter = collections.Counter()
        for study in studies:
            self._put({"study": study, "pending": list(study["instances"]), "attempt": 1, "not_before": 0.0})
        self.started = self.finished = None

    def _put(self, job):
        with self._pending_lock:
            self._pending += 1
        self._queue.put(job)

    def _done(self):
        with self._pending_lock:
            self._pending -= 1

    def _stopping(self):
        return bool(self.stop_file) and os.path.exists(self.stop_file)

    def _backoff_delay(self, attempt):
        delay = min(self.backoff_max, self.backoff * (2 ** (attempt - 1)))
        return delay * (0.75 + 0.5 * self._rng.random())

    def run(self):
        self.started = time.monotonic()
        threads = [threading.Thread(target=self._worker, args=(n,), name="sender-%d" % n, daemon=True)
                   for n in range(self.associations)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, self.deadline - time.monotonic()) + self.timeouts["dimse"] + 30)
        self.finished = time.monotonic()
        # Whatever is still queued when time ran out is given up, and recorded as such.
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            self._give_up(job)
        return self.recorder.records

    def _give_up(self, job):
        for instance in job["pending"]:
            self.recorder.add(type="gave_up", study=job["study"]["study_instance_uid"],
                              sop_instance_uid=instance["sop_instance_uid"], attempts=job["attempt"])

    def _retry_or_give_up(self, job):
        if job["attempt"] > self.max_retries or time.monotonic() >= self.deadline:
            self._give_up(job)
            return
        job["not_before"] = time.monotonic() + self._backoff_delay(job["attempt"])
        job["attempt"] += 1
        self._put(job)

    def _worker(self, number):
        from pynetdicom import AE, evt
        from pydicom import uid as pyuid
        ae = AE(ae_title=self.calling_ae)
        ae.acse_timeout = self.timeouts["acse"]
        ae.dimse_timeout = self.timeouts["dimse"]
        ae.network_timeout = max(60, self.timeouts["dimse"] * 2)
        ae.connection_timeout = self.timeouts["connect"]
        for kind in sorted(KINDS):
            ae.add_requested_context(getattr(pyuid, KINDS[kind][0]), pyuid.ExplicitVRLittleEndian)
        while time.monotonic() < self.deadline:
            try:
                job = self._queue.get(timeout=0.2)
            except queue.Empty:
                with self._pending_lock:
                    if self._pending == 0:
                        return
                continue
            if job["attempt"] == 1 and self._stopping():
                self._done()  # never started, so nothing to record
                continue
            wait = job["not_before"] - time.monotonic()
            if wait > 0:
                time.sleep(min(wait, max(0.0, self.deadline - time.monotonic())))
            try:
                self._send_job(number, ae, evt, job)
            finally:
                self._done()
            if self.pause_between_studies:
                time.sleep(self.pause_between_studies)

    def _send_job(self, number, ae, evt, job):
        self._assoc_counter[number] += 1
        assoc_id = "w%d-a%d" % (number, self._assoc_counter[number])
        study = job["study"]
        start = time.monotonic()
        opened = []
        handlers = [(evt.EVT_CONN_OPEN, _conn_open_handler(opened, self.nodelay))]
        try:
            assoc = ae.associate(self.host, self.port, ae_title=self.called_ae, evt_handlers=handlers)
        except Exception as exc:  # pylint: disable=broad-except
            self._association(number, assoc_id, job, "connect_failed", start, repr(exc))
            self._retry_or_give_up(job)
            return
        if not assoc.is_established:
            if not opened:
                outcome = "connect_failed"  # TCP never connected (refused, unreachable, timed out)
            else:
                outcome = "rejected" if assoc.is_rejected else "aborted"
            self._association(number, assoc_id, job, outcome, start, "")
            self._retry_or_give_up(job)
            return
        self._association(number, assoc_id, job, "established", start, "")
        remaining = list(job["pending"])
        unacknowledged = []
        broken = False
        while remaining:
            if time.monotonic() >= self.deadline:
                unacknowledged.extend(remaining)
                break
            if self.image_pause and len(remaining) < len(job["pending"]):
                time.sleep(self.image_pause)
                if self._stopping():
                    break  # planned, never sent: not recorded, not owed
            instance = remaining.pop(0)
            ds = make_dataset(study, instance)
            t0 = time.monotonic()
            try:
                rsp = assoc.send_c_store(ds)
                status = _status_of(rsp)
            except Exception:  # pylint: disable=broad-except
                status = None
            if status is None:
                outcome = "no_response"
            elif status in STORED_STATUSES:
                outcome = "acknowledged"
            else:
                outcome = "failed_status"
            self.recorder.add(type="store", worker=number, assoc=assoc_id, attempt=job["attempt"],
                              study=study["study_instance_uid"], sop_instance_uid=instance["sop_instance_uid"],
                              sop_class_uid=str(ds.SOPClassUID), bytes=len(ds.PixelData), status=status,
                              outcome=outcome, elapsed_ms=round((time.monotonic() - t0) * 1000, 3))
            if outcome != "acknowledged":
                unacknowledged.append(instance)
            if outcome == "no_response" or not assoc.is_established:
                # The association is gone (abort, timeout, peer died): the rest goes back to the queue.
                unacknowledged.extend(remaining)
                remaining = []
                broken = True
        if broken:
            assoc.abort()
            self._association(number, assoc_id, job, "broken", start, "association lost during the study")
        else:
            assoc.release()
            self._association(number, assoc_id, job, "released", start, "")
        if unacknowledged:
            job["pending"] = unacknowledged
            self._retry_or_give_up(job)

    def _association(self, number, assoc_id, job, outcome, start, detail):
        self.recorder.add(type="association", worker=number, assoc=assoc_id, attempt=job["attempt"], outcome=outcome,
                          elapsed_ms=round((time.monotonic() - start) * 1000, 3), detail=detail)


# ---------------------------------------------------------------- records and reconciliation

def load_records(path):
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def validate_record(record):
    """Problems with one record (empty list if it is well-formed)."""
    problems = []
    kind = record.get("type")
    if kind not in RECORD_FIELDS:
        return ["unknown record type %r" % (kind,)]
    missing = [f for f in RECORD_FIELDS[kind] if f not in record]
    if missing:
        problems.append("%s record lacks %s" % (kind, ", ".join(missing)))
    if kind == "store":
        if record.get("outcome") not in STORE_OUTCOMES:
            problems.append("store outcome %r is not one of %s" % (record.get("outcome"), ", ".join(STORE_OUTCOMES)))
        status = record.get("status")
        if record.get("outcome") == "acknowledged" and status not in STORED_STATUSES:
            problems.append("acknowledged with status %r, which does not mean stored" % (status,))
        if record.get("outcome") == "no_response" and status is not None:
            problems.append("no_response with a status %r" % (status,))
    if kind == "association" and record.get("outcome") not in ASSOCIATION_OUTCOMES:
        problems.append("association outcome %r is not one of %s" % (record.get("outcome"), ", ".join(ASSOCIATION_OUTCOMES)))
    return problems


def summarize(records):
    """Counts from the records alone (no server lookup)."""
    stores = [r for r in records if r.get("type") == "store"]
    assocs = [r for r in records if r.get("type") == "association"]
    gave_up = {r["sop_instance_uid"] for r in records if r.get("type") == "gave_up"}
    attempts = collections.Counter(r["sop_instance_uid"] for r in stores)
    acknowledged = {r["sop_instance_uid"] for r in stores if r.get("outcome") == "acknowledged"}
    sent = set(attempts)
    elapsed = None
    times = [r["t"] for r in records if "t" in r]
    if times:
        elapsed = max(times) - min(times)
    return {
        "sent": len(sent),
        "store_requests": len(stores),
        "acknowledged": len(acknowledged),
        "bytes_acknowledged": sum(r.get("bytes", 0) for r in stores if r.get("outcome") == "acknowledged"),
        "failed_status": sum(1 for r in stores if r.get("outcome") == "failed_status"),
        "no_response": sum(1 for r in stores if r.get("outcome") == "no_response"),
        "associations": sum(1 for r in assocs if r.get("outcome") == "established"),
        "failed_associations": sum(1 for r in assocs if r.get("outcome") in ("rejected", "aborted", "connect_failed")),
        "broken_associations": sum(1 for r in assocs if r.get("outcome") == "broken"),
        "retried": sum(1 for uid, n in attempts.items() if n > 1),
        "gave_up": len(gave_up - acknowledged),
        "never_acknowledged": sorted(sent - acknowledged),
        "elapsed_s": elapsed,
    }


def across(records, moments, near=2.0):
    """How the associations that were open at any of the moments (epoch seconds) ended.

    A reload or failover is such a moment: an association that spans it and
    still ends "released" survived it. moments_without_open counts the moments
    that no association spanned (they tested nothing). A broken association
    lasts at least its DIMSE timeout, so it spans some moment by its length
    alone: unanswered_near_moments counts the requests that got no response
    and were sent within `near` seconds of a moment, and unanswered_elsewhere
    the others, which the moments cannot have caused."""
    def started(record):
        return record["t"] - record.get("elapsed_ms", 0.0) / 1000.0

    spans = [(started(r), r["t"], r["outcome"]) for r in records
             if r.get("type") == "association" and r.get("outcome") in ("released", "broken")]
    ended = collections.Counter(outcome for start, end, outcome in spans
                                if any(start <= m <= end for m in moments))
    uncovered = [m for m in moments if not any(start <= m <= end for start, end, _outcome in spans)]
    unanswered = [started(r) for r in records if r.get("type") == "store" and r.get("outcome") == "no_response"]
    near_moment = [t for t in unanswered if any(abs(t - m) <= near for m in moments)]
    return {"moments": len(moments), "open_at_moments": sum(ended.values()),
            "released": ended["released"], "broken": ended["broken"], "moments_without_open": len(uncovered),
            "unanswered_near_moments": len(near_moment), "unanswered_elsewhere": len(unanswered) - len(near_moment)}


def reconcile(records, holdings):
    """Compare the records with what the servers hold.

    holdings: {server name: set of SOP Instance UIDs found there}, covering the
    UIDs of the records (other instances on the servers are ignored).
    """
    summary = summarize(records)
    stores = [r for r in records if r.get("type") == "store"]
    acknowledged = {r["sop_instance_uid"] for r in stores if r.get("outcome") == "acknowledged"}
    ours = {r["sop_instance_uid"] for r in records if "sop_instance_uid" in r}
    where = collections.defaultdict(list)
    for server, uids in sorted(holdings.items()):
        for uid in set(uids) & ours:
            where[uid].append(server)
    found = set(where)
    summary.update({
        "found_on_servers": len(found),
        "missing_on_server": len(acknowledged - found),
        "missing_uids": sorted(acknowledged - found),
        "stored_unacknowledged": len(found - acknowledged),
        "on_several_servers": sum(1 for servers in where.values() if len(servers) > 1),
        "per_server": {server: len(set(uids) & ours) for server, uids in sorted(holdings.items())},
    })
    summary.pop("never_acknowledged", None)
    return summary


def orthanc_holdings(base_url, records, timeout=30):
    """SOP Instance UIDs of the records that an Orthanc holds, found by study through POST /tools/find."""
    studies = sorted({r["study"] for r in records if r.get("study")})
    wanted = {r["sop_instance_uid"] for r in records if "sop_instance_uid" in r}
    found = set()
    for study in studies:
        body = {"Level": "Instance", "Query": {"StudyInstanceUID": study}, "Expand": True}
        for item in _post_json(base_url.rstrip("/") + "/tools/find", body, timeout):
            uid = item.get("MainDicomTags", {}).get("SOPInstanceUID")
            if uid:
                found.add(uid)
    # Instances recorded without a study (should not happen) are looked up one by one.
    for uid in sorted(wanted - found):
        if not any(r.get("sop_instance_uid") == uid and r.get("study") for r in records):
            body = {"Level": "Instance", "Query": {"SOPInstanceUID": uid}}
            if _post_json(base_url.rstrip("/") + "/tools/find", body, timeout):
                found.add(uid)
    return found & wanted


def _post_json(url, body, timeout):
    """POST and decode; a server that refuses or drops the connection (an Orthanc
    restarted by a fault scenario and still starting) is asked again until timeout."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # nosec - URLs from the command line
                return json.loads(response.read().decode())
        except (urllib.error.URLError, ConnectionError) as exc:
            if isinstance(exc, urllib.error.HTTPError) or time.monotonic() >= deadline:
                raise
            time.sleep(1.0)


STORESCP_NAME_RE = re.compile(r"^(?:[A-Z]{2}|[a-z]{2})\.([0-9][0-9.]*[0-9])(?:\.dcm)?$")


def storescp_holdings(directory):
    """SOP Instance UIDs in a DCMTK storescp output directory (default names are MODALITY.SOPInstanceUID[.ext])."""
    found = set()
    for name in os.listdir(directory):
        match = STORESCP_NAME_RE.match(name)
        if match:
            found.add(match.group(1))
            continue
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            try:
                from pydicom import dcmread
                found.add(str(dcmread(path, stop_before_pixels=True).SOPInstanceUID))
            except Exception:  # pylint: disable=broad-except
                pass
    return found


def lookup_holdings(records, orthanc_urls=(), storescp_dirs=()):
    holdings = {}
    for url in orthanc_urls:
        holdings[url] = orthanc_holdings(url, records)
    for directory in storescp_dirs:
        holdings[directory] = storescp_holdings(directory)
    return holdings


def exit_status(result):
    if result.get("missing_on_server"):
        return 1
    if result.get("gave_up"):
        return 2
    return 0


# ---------------------------------------------------------------- CLI

def simulate(host, port, studies=4, mix="ct:20,mg:4", records_path=None, seed=None, **options):
    """Plan, send and return (records, summary). Options are SendQueue's keyword arguments."""
    planned = plan_studies(studies, parse_mix(mix), seed=seed)
    recorder = Recorder(records_path)
    try:
        sender = SendQueue(planned, host, port, recorder=recorder, seed=seed, **options)
        records = sender.run()
    finally:
        recorder.close()
    summary = summarize(records)
    summary["send_s"] = round(sender.finished - sender.started, 3)
    summary["mb_per_s"] = round(summary["bytes_acknowledged"] / 1e6 / summary["send_s"], 2) if summary["send_s"] else None
    return records, summary


def _print_result(result, as_json):
    if as_json:
        print(json.dumps(result, sort_keys=True))
        return
    for key in ("sent", "acknowledged", "failed_associations", "broken_associations", "retried", "gave_up",
                "missing_on_server", "stored_unacknowledged", "on_several_servers", "mb_per_s", "send_s"):
        if key in result:
            print("%-22s %s" % (key, result[key]))
    if result.get("missing_uids"):
        print("missing UIDs: %s" % " ".join(result["missing_uids"][:20]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    send = sub.add_parser("send", help="send studies, record every instance, optionally reconcile")
    send.add_argument("--host", required=True)
    send.add_argument("--port", type=int, default=104)
    send.add_argument("--aec", default="ORTHANC", help="called AE title")
    send.add_argument("--aet", default="MODALITY1", help="calling AE title")
    send.add_argument("--associations", type=int, default=1, help="concurrent associations (threads)")
    send.add_argument("--studies", type=int, default=4)
    send.add_argument("--mix", default="ct:20,mg:4", help="study kinds cycled through, kind:images (ct, mg)")
    send.add_argument("--max-retries", type=int, default=3, help="re-sends of a study after its first attempt")
    send.add_argument("--backoff", type=float, default=0.5, help="first back-off (s), doubled per retry")
    send.add_argument("--backoff-max", type=float, default=8.0)
    send.add_argument("--nodelay", action="store_true", help="TCP_NODELAY on the client socket")
    send.add_argument("--dimse-timeout", type=float, default=30)
    send.add_argument("--acse-timeout", type=float, default=15)
    send.add_argument("--time-limit", type=float, default=600, help="hard limit for the whole run (s)")
    send.add_argument("--pause", type=float, default=0.0, help="pause between studies per association (s)")
    send.add_argument("--stop-file", help="start no new study once this file exists (retries go on)")
    send.add_argument("--image-pause", type=float, default=0.0,
                      help="pause between the images of an association (s); with --stop-file a study then "
                           "ends early once the file exists (its unsent rest is dropped)")
    send.add_argument("--seed", type=int)
    send.add_argument("--records", help="JSON-lines file for the records")
    send.add_argument("--orthanc", action="append", default=[], help="Orthanc REST base URL to reconcile against")
    send.add_argument("--storescp-dir", action="append", default=[], help="storescp output directory to reconcile against")
    send.add_argument("--json", action="store_true", help="print the result as one JSON object")
    rec = sub.add_parser("reconcile", help="compare a records file with the servers")
    rec.add_argument("--records", required=True)
    rec.add_argument("--orthanc", action="append", default=[])
    rec.add_argument("--storescp-dir", action="append", default=[])
    rec.add_argument("--json", action="store_true")
    acr = sub.add_parser("across", help="how the associations open at given moments ended")
    acr.add_argument("--records", required=True)
    acr.add_argument("--at", type=float, nargs="+", required=True, help="moments, epoch seconds")
    args = parser.parse_args(argv)

    if args.command == "across":
        print(json.dumps(across(load_records(args.records), args.at), sort_keys=True))
        return 0

    if args.command == "send":
        records, result = simulate(
            args.host, args.port, studies=args.studies, mix=args.mix, records_path=args.records, seed=args.seed,
            called_ae=args.aec, calling_ae=args.aet, associations=args.associations, max_retries=args.max_retries,
            backoff=args.backoff, backoff_max=args.backoff_max, nodelay=args.nodelay,
            dimse_timeout=args.dimse_timeout, acse_timeout=args.acse_timeout, time_limit=args.time_limit,
            pause_between_studies=args.pause, stop_file=args.stop_file, image_pause=args.image_pause)
    else:
        records = load_records(args.records)
        result = summarize(records)
    if args.orthanc or args.storescp_dir:
        extra = {k: result[k] for k in ("send_s", "mb_per_s") if k in result}
        result = reconcile(records, lookup_holdings(records, args.orthanc, args.storescp_dir))
        result.update(extra)
    else:
        result.pop("never_acknowledged", None)
    _print_result(result, args.json)
    return exit_status(result)


if __name__ == "__main__":
    sys.exit(main())
