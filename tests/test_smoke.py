from litestar.testing import TestClient

from tests.factories import TenantKeys, metadata_body


def test_seed_example_round_trip(client: TestClient[object], tenant: TenantKeys) -> None:
    assert client.get("/metadatas", headers=tenant.headers()).json() == []
    created = client.post("/metadatas", json=metadata_body(), headers=tenant.headers())
    assert created.status_code == 201, created.text
    uuid = created.json()["uuid"]
    edited = client.put(f"/metadatas/{uuid}", json={"data": ["a"], "version": 1}, headers=tenant.headers())
    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] == 2
