"""Drives the official Huawei Cloud VOD Python SDK (huaweicloudsdkvod) against the VOD
simulator: starts a snapshot task on an asset, reads its results across pages (with the
`null` empty page), sets one as the cover, reads the cover back, deletes the task's
snapshots, and checks that a wrong secret key is refused with the gateway's APIGW.0301.

Usage: official_vod_sdk.py ENDPOINT ACCESS_KEY SECRET_KEY PROJECT_ID ASSET_ID
Exits 0 and prints 'sdk: N passed, 0 failed' when every step behaves as the real API does.
"""
import sys
import time

from checks import check, done
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions import exceptions
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkvod.v1 import (
    AssetProcessReq,
    CreateAssetProcessTaskRequest,
    DeleteThumbnailsRequest,
    ListThumbnailDetailsRequest,
    ShowAssetDetailRequest,
    Thumbnail,
    UpdateCoverByThumbnailReq,
    UpdateCoverByThumbnailRequest,
    VodClient,
)

endpoint, ak, sk, project, asset = sys.argv[1:6]


def client(secret):
    config = HttpConfig.get_default_config()
    config.timeout = (5, 10)
    creds = BasicCredentials(ak, secret, project)
    return VodClient.new_builder().with_http_config(config).with_credentials(creds).with_endpoint(endpoint).build()




good = client(sk)
task = good.create_asset_process_task(
    CreateAssetProcessTaskRequest(body=AssetProcessReq(asset_id=asset, thumbnail=Thumbnail(type="time", time=1, format=1)))
).thumbnail_task_id
check("snapshot task started", bool(task))

# The results appear after the task has run; until then the page is empty (null).
deadline = time.time() + 10
while True:
    first = good.list_thumbnail_details(ListThumbnailDetailsRequest(task_id=task, offset=0, limit=100))
    if first.total or time.time() > deadline:
        break
    time.sleep(0.1)
check("results appear", first.total == 150 and len(first.thumbnail_result) == 100)
second = good.list_thumbnail_details(ListThumbnailDetailsRequest(task_id=task, offset=100, limit=100))
check("second page holds the rest", len(second.thumbnail_result) == 50 and second.thumbnail_result[0].offset == 100)
past = good.list_thumbnail_details(ListThumbnailDetailsRequest(task_id=task, offset=150, limit=100))
check("a page past the end is null", past.thumbnail_result is None and past.total == 150)

chosen = second.thumbnail_result[20].url
good.update_cover_by_thumbnail(UpdateCoverByThumbnailRequest(body=UpdateCoverByThumbnailReq(thumbnail_url=chosen)))
detail = good.show_asset_detail(ShowAssetDetailRequest(asset_id=asset, categories=["base_info", "thumbnail_info"]))
covers = detail.base_info.cover_info_array
check("the cover is set and reads back", len(covers) == 1 and covers[0].cover_url.endswith("/cover/1.jpg"))
try:
    good.update_cover_by_thumbnail(
        UpdateCoverByThumbnailRequest(body=UpdateCoverByThumbnailReq(thumbnail_url=chosen + ".nope"))
    )
    check("unknown snapshot refused", False)
except exceptions.ClientRequestException as e:
    check("unknown snapshot refused with VOD.10062", e.error_code == "VOD.10062")
try:
    client(sk + "x").show_asset_detail(ShowAssetDetailRequest(asset_id=asset))
    check("wrong secret key refused", False)
except exceptions.ClientRequestException as e:
    check("wrong secret key refused with APIGW.0301", e.status_code == 401 and e.error_code == "APIGW.0301")
deleted = good.delete_thumbnails(DeleteThumbnailsRequest(asset_id=asset, task_id=[task]))
check("snapshots deleted", deleted.delete_result_array[0].status == "DELETED")
done()
