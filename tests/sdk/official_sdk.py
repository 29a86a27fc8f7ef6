"""Drives the official Huawei Cloud Python SDK (huaweicloudsdklive) against a running
live-api-sim: create, list, update and delete a template with AK/SK signing, then checks
that a wrong secret key is refused with the gateway's APIG.0301.

Usage: official_sdk.py ENDPOINT ACCESS_KEY SECRET_KEY PROJECT_ID
Exits 0 and prints 'sdk: N passed, 0 failed' when every step behaves as the real API does.
"""
import sys

from checks import check, done
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions import exceptions
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdklive.v1 import (
    CreateSnapshotConfigRequest,
    DeleteSnapshotConfigRequest,
    ListSnapshotConfigsRequest,
    LiveClient,
    LiveSnapshotConfig,
    ObsFileAddr,
    UpdateSnapshotConfigRequest,
)

endpoint, ak, sk, project = sys.argv[1:5]
DOMAIN, APP = "push.sdk.example.com", "sdk-app"


def client(secret):
    config = HttpConfig.get_default_config()
    config.timeout = (5, 10)
    creds = BasicCredentials(ak, secret, project)
    return LiveClient.new_builder().with_http_config(config).with_credentials(creds).with_endpoint(endpoint).build()


def template(interval):
    return LiveSnapshotConfig(
        domain=DOMAIN,
        app_name=APP,
        time_interval=interval,
        object_write_mode=0,
        snapshot_mode="keyframe",
        obs_location=ObsFileAddr(bucket="snap-bucket", location="cn-north-4", object="snapshots/"),
        image_object_format="{{.stream}}-{{.unix_time}}",
    )


def listed(c):
    resp = c.list_snapshot_configs(ListSnapshotConfigsRequest(domain=DOMAIN, app_name=APP, limit=100, offset=0))
    return resp.snapshot_config_list or []




good = client(sk)
good.create_snapshot_config(CreateSnapshotConfigRequest(body=template(10)))
items = listed(good)
check("create then list finds it", len(items) == 1 and items[0].time_interval == 10)
good.update_snapshot_config(UpdateSnapshotConfigRequest(body=template(30)))
check("update is visible", listed(good)[0].time_interval == 30)
try:
    good.create_snapshot_config(CreateSnapshotConfigRequest(body=template(10)))
    check("duplicate create refused", False)
except exceptions.ClientRequestException as e:
    check("duplicate create refused with LIVE.103011018", e.error_code == "LIVE.103011018")
try:
    client(sk + "x").list_snapshot_configs(ListSnapshotConfigsRequest(domain=DOMAIN))
    check("wrong secret key refused", False)
except exceptions.ClientRequestException as e:
    check("wrong secret key refused with APIG.0301", e.status_code == 401 and e.error_code == "APIG.0301")
good.delete_snapshot_config(DeleteSnapshotConfigRequest(domain=DOMAIN, app_name=APP))
check("delete removes it", listed(good) == [])
done()
