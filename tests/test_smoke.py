def test_root_links_collections(client):
    body = client.get("/v1").get_json()
    assert body["data"]["_links"]["books"] == "/v1/books"
    assert body["meta"]["request_id"].startswith("req_")
