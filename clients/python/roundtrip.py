"""A job's round trip through a client generated from the API's OpenAPI description.

Generate the client first (README, "Clients"):

    openapi-python-client generate --url http://127.0.0.1:3000/openapi.json \
        --meta none --output-path async_jobs_client

then run, with the client's directory on PYTHONPATH:

    AJ_URL=http://127.0.0.1:3000 AJ_API_KEY=$(cat .spin/dev_api_key) python roundtrip.py

It submits a `hash` job, polls it until it has finished, reads its result and prints
the digest. tests/e2e/openapi.rs runs it.
"""

import os
import sys
import time

from async_jobs_client import AuthenticatedClient
from async_jobs_client.api.jobs import get_job, get_job_result, submit_job
from async_jobs_client.models import HashInput, HashResult, JobResource, SubmitHashJob

FINISHED = {"succeeded", "failed", "cancelled"}


def main() -> int:
    client = AuthenticatedClient(base_url=os.environ["AJ_URL"], token=os.environ["AJ_API_KEY"])
    with client:
        submitted = submit_job.sync_detailed(
            client=client,
            body=SubmitHashJob(kind="hash", input_=HashInput(data="abc")),
        )
        if submitted.status_code != 202 or not isinstance(submitted.parsed, JobResource):
            print(f"submit: {submitted.status_code} {submitted.content!r}", file=sys.stderr)
            return 1
        job = submitted.parsed
        print(f"submitted {job.id}: {job.status}, Location {submitted.headers['location']}")

        deadline = time.monotonic() + 60
        while job.status not in FINISHED:
            if time.monotonic() > deadline:
                print(f"job {job.id} still {job.status} after 60 s", file=sys.stderr)
                return 1
            # The API suggests `Retry-After: 1`; a demo may poll sooner.
            time.sleep(0.2)
            polled = get_job.sync(job.id, client=client)
            if not isinstance(polled, JobResource):
                print(f"poll: {polled!r}", file=sys.stderr)
                return 1
            job = polled

        if job.status != "succeeded":
            print(f"job {job.id} {job.status}: {job.error}", file=sys.stderr)
            return 1
        result = get_job_result.sync(job.id, client=client)
        if not isinstance(result, HashResult):
            print(f"result: {result!r}", file=sys.stderr)
            return 1
        print(f"succeeded after {job.attempts} attempt(s): {result.algorithm} {result.hex_}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
