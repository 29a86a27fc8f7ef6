"""Drives the official Alibaba Cloud MPS Python SDK (alibabacloud-mts20140618 on
alibabacloud-tea-openapi, default ACS3-HMAC-SHA256 signature) against the MPS simulator:
submits a snapshot job and follows it to Success, queries by id with an unknown id, pages
through more than one page of a pipeline's jobs, signs with the older RPC v1 signature too, and
checks that a wrong secret is refused with SignatureDoesNotMatch.

Usage: official_mps_sdk.py ENDPOINT ACCESS_KEY SECRET PIPELINE_ID
Exits 0 and prints 'sdk: N passed, 0 failed' when every step behaves as the real API does.
"""
import json
import sys
import time

from alibabacloud_mts20140618 import models
from alibabacloud_mts20140618.client import Client
from alibabacloud_tea_openapi.models import Config
from checks import check, done

endpoint, ak, sk, pipeline = sys.argv[1:5]
host = endpoint.split("://", 1)[1]


def client(secret, algorithm=None):
    config = Config(
        access_key_id=ak,
        access_key_secret=secret,
        endpoint=host,
        protocol="http",
        region_id="cn-shanghai",
        read_timeout=10000,
        connect_timeout=5000,
    )
    if algorithm:
        config.signature_algorithm = algorithm
    return Client(config)


good = client(sk)
job_input = json.dumps(
    {"Bucket": "media", "Location": "oss-cn-shanghai", "Object": "in%2Fdemo.mp4"},
    separators=(",", ":"),
)
snapshot_config = json.dumps(
    {
        "OutputFile": {"Bucket": "media", "Location": "oss-cn-shanghai", "Object": "out%2F{Count}.jpg"},
        "Time": "0",
        "Interval": "10",
        "Num": "4",
    },
    separators=(",", ":"),
)
submitted = good.submit_snapshot_job(
    models.SubmitSnapshotJobRequest(
        input=job_input, snapshot_config=snapshot_config, pipeline_id=pipeline, user_data="sdk-job-1"
    )
).body.snapshot_job
check("submit answers a job id", len(submitted.id) == 32 and submitted.state == "Submitted")
check("the config is echoed with numbers as strings", submitted.snapshot_config.num == "4")

state = submitted.state
for _ in range(50):
    body = good.query_snapshot_job_list(
        models.QuerySnapshotJobListRequest(snapshot_job_ids=f"{submitted.id},{'0' * 32}")
    ).body
    job = body.snapshot_job_list.snapshot_job[0]
    state = job.state
    if state == "Success":
        break
    time.sleep(0.1)
check("the job reaches Success with its count", state == "Success" and job.count == "4")
check("an unknown id is reported", body.non_exist_snapshot_job_ids.string == ["0" * 32])

# More than one page: the simulator holds 45 jobs of this pipeline.
seen, token, pages = [], None, 0
while True:
    page = good.query_snapshot_job_list(
        models.QuerySnapshotJobListRequest(pipeline_id=pipeline, maximum_page_size=20, next_page_token=token)
    ).body
    seen += [j.id for j in page.snapshot_job_list.snapshot_job]
    pages += 1
    token = page.next_page_token
    if not token:
        break
check("paging walks every job once", pages == 3 and len(seen) == len(set(seen)) == 45)

v1 = client(sk, "v2").query_snapshot_job_list(
    models.QuerySnapshotJobListRequest(snapshot_job_ids=submitted.id)
).body
check("the RPC v1 signature is accepted", v1.snapshot_job_list.snapshot_job[0].id == submitted.id)

try:
    client("wrong-secret").query_snapshot_job_list(
        models.QuerySnapshotJobListRequest(snapshot_job_ids=submitted.id)
    )
    check("a wrong secret is refused", False)
except Exception as e:  # the SDK raises ClientException with the gateway's code
    check("a wrong secret is refused", getattr(e, "code", "") == "SignatureDoesNotMatch")
done()
