//! The real server on loopback, real models, real gallery, hit with reqwest.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{TOKEN, bmp_header, client, config, faces_dir, start};
use facelens_api::wire::{
    EnrolRequest, ErrorBody, FaceCrop, FacesRequest, FacesResponse, GalleryList, SearchResponse,
    VerifyResponse,
};
use facelens_core::api::Analysis;
use facelens_core::image_io::DecodeLimits;
use facelens_core::{Pipeline, PipelineConfig};
use facelens_server::{Config, Role};

fn post_image(url: &str, path: &str, bytes: Vec<u8>) -> reqwest::blocking::Response {
    client()
        .post(format!("{url}{path}"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .expect("request")
}

fn post_json(url: &str, path: &str, body: &impl serde::Serialize) -> reqwest::blocking::Response {
    client()
        .post(format!("{url}{path}"))
        .bearer_auth(TOKEN)
        .json(body)
        .send()
        .expect("request")
}

fn json<T: serde::de::DeserializeOwned>(r: reqwest::blocking::Response) -> T {
    let status = r.status();
    let body = r.bytes().expect("body");
    serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{status}: {e}: {}", String::from_utf8_lossy(&body)))
}

fn local_pipeline() -> Pipeline {
    Pipeline::load(&PipelineConfig::default(), &mut |_| {}).expect("local pipeline")
}

fn assert_same_analysis(a: &Analysis, b: &Analysis) {
    assert_eq!(a.faces.len(), b.faces.len(), "face counts");
    for (x, y) in a.faces.iter().zip(&b.faces) {
        let (bx, by) = (x.detection.bbox, y.detection.bbox);
        assert!(
            (bx.x1 - by.x1).abs() < 0.01 && (bx.y2 - by.y2).abs() < 0.01,
            "boxes"
        );
        let c = facelens_core::models::embedder::cosine(&x.embedding, &y.embedding);
        assert!(c > 0.9999, "embeddings differ: cosine {c}");
        let (qx, qy) = (
            x.quality.as_ref().expect("quality"),
            y.quality.as_ref().expect("quality"),
        );
        assert!((qx.score - qy.score).abs() < 1e-3, "quality {qx:?} {qy:?}");
        assert!((qx.pose.yaw_deg - qy.pose.yaw_deg).abs() < 0.1, "pose");
        let (ax, ay) = (&x.attributes, &y.attributes);
        assert!((ax.age.years - ay.age.years).abs() < 0.05, "age");
        assert!((ax.gender.male_probability - ay.gender.male_probability).abs() < 1e-3);
        for (p, q) in ax
            .race
            .iter()
            .chain(&ax.emotion)
            .zip(ay.race.iter().chain(&ay.emotion))
        {
            assert_eq!(p.label, q.label);
            assert!((p.probability - q.probability).abs() < 1e-3, "{}", p.label);
        }
    }
}

fn authed() -> (Config, tempfile::TempDir) {
    let (mut c, g) = config();
    c.tokens = vec![TOKEN.into()];
    (c, g)
}

#[test]
fn analyze_and_faces_match_the_local_pipeline() {
    let dir = faces_dir();
    let (c, g) = authed();
    let server = start(c, Some(g)).expect("server");
    let photo = dir.join("couple.jpg");
    let bytes = std::fs::read(&photo).expect("photo");
    let mut local = local_pipeline();
    let expected = local.analyze_file(&photo, None).expect("local");
    assert_eq!(expected.faces.len(), 2);

    // Whole image, raw body.
    let remote: Analysis = json(post_image(&server.url, "/v1/analyze", bytes.clone()));
    assert_same_analysis(&expected, &remote);

    // Whole image as a multipart upload.
    let form = reqwest::blocking::multipart::Form::new().part(
        "image",
        reqwest::blocking::multipart::Part::bytes(bytes.clone()).file_name("couple.jpg"),
    );
    let r = client()
        .post(format!("{}/v1/analyze", server.url))
        .bearer_auth(TOKEN)
        .multipart(form)
        .send()
        .expect("multipart");
    assert_same_analysis(&expected, &json(r));

    // Connected mode: only the crops travel.
    let img = facelens_core::image_io::decode(&bytes, DecodeLimits::default()).expect("decode");
    let mut pre = facelens_core::stages::Preprocessor::load(&local.store(), Default::default())
        .expect("preprocessor");
    let p = pre.run(&img, &local.config.detector).expect("preprocess");
    let req = FacesRequest {
        faces: p
            .faces
            .iter()
            .map(|f| FaceCrop::encode(f).expect("encode"))
            .collect(),
        top_k: 5,
        search: true,
    };
    let r = post_json(&server.url, "/v1/faces", &req);
    let resp: FacesResponse = json(r);
    assert_eq!(resp.faces.len(), 2);
    for (f, e) in resp.faces.iter().zip(&expected.faces) {
        let c = facelens_core::models::embedder::cosine(&f.embedding, &e.embedding);
        assert!(c > 0.9999, "cosine {c}");
        assert!((f.attributes.age.years - e.attributes.age.years).abs() < 0.05);
    }
    let metrics = client()
        .get(format!("{}/metrics", server.url))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    assert!(metrics.contains("facelens_requests_total{route=\"/v1/faces\",status=\"200\"} 1"));
    assert!(metrics.contains("facelens_batch_size_count{stage=\"embed\"}"));
}

#[test]
fn auth_is_required_and_checked() {
    let (c, g) = authed();
    let server = start(c, Some(g)).expect("server");
    let url = format!("{}/v1/version", server.url);
    let none = client().get(&url).send().expect("request");
    assert_eq!(none.status(), 401);
    assert!(none.headers().contains_key("www-authenticate"));
    let body: ErrorBody = json(none);
    assert_eq!(body.code, "unauthorized");
    let wrong = client()
        .get(&url)
        .bearer_auth("test-token-0123456780")
        .send()
        .expect("request");
    assert_eq!(wrong.status(), 401);
    let ok = client()
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .expect("request");
    assert_eq!(ok.status(), 200);
    // Probes, metrics and the API document stay open.
    for open in ["/livez", "/readyz", "/metrics", "/v1/openapi.json"] {
        let r = client()
            .get(format!("{}{open}", server.url))
            .send()
            .expect("request");
        assert_eq!(r.status(), 200, "{open}");
    }
}

#[test]
fn limits_reject_huge_bodies_bombs_and_junk() {
    let (mut c, g) = authed();
    c.max_body_mib = 1;
    c.max_faces = 2;
    let server = start(c, Some(g)).expect("server");
    let r = post_image(&server.url, "/v1/analyze", vec![0u8; 2 * 1024 * 1024]);
    assert_eq!(r.status(), 413, "2 MiB body over a 1 MiB limit");
    let r = post_image(&server.url, "/v1/analyze", bmp_header(30_000, 30_000));
    assert_eq!(r.status(), 413, "30000x30000 header");
    assert_eq!(json::<ErrorBody>(r).code, "image_too_large");
    let r = post_image(&server.url, "/v1/analyze", b"hello, not an image".to_vec());
    assert_eq!(r.status(), 415);
    let r = post_image(&server.url, "/v1/analyze", Vec::new());
    assert_eq!(r.status(), 400);
    let r = client()
        .post(format!("{}/v1/faces", server.url))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{\"faces\": 3}")
        .send()
        .expect("request");
    assert_eq!(r.status(), 400, "malformed JSON");
    assert_eq!(json::<ErrorBody>(r).code, "bad_request");
    let crop = FaceCrop {
        aligned_png: "AAAA".into(),
        patch_png: "AAAA".into(),
        bbox_in_patch: facelens_core::api::BoxPx {
            x1: 0.0,
            y1: 0.0,
            x2: 1.0,
            y2: 1.0,
        },
    };
    let req = FacesRequest {
        faces: vec![crop; 3],
        top_k: 5,
        search: true,
    };
    let r = post_json(&server.url, "/v1/faces", &req);
    assert_eq!(r.status(), 413, "3 faces over a limit of 2");
    let mut one = req.clone();
    one.faces.truncate(1);
    let r = post_json(&server.url, "/v1/faces", &one);
    assert!(
        r.status().is_client_error(),
        "a crop that is not an image: {}",
        r.status()
    );
}

fn rejected_total(url: &str) -> usize {
    let metrics = client()
        .get(format!("{url}/metrics"))
        .send()
        .and_then(|r| r.text())
        .expect("metrics");
    let n: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("facelens_rejected_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    n as usize
}

/// Overload without timing: a gateway whose preprocess role is a socket this test holds open
/// without answering keeps its one in-flight slot taken for exactly as long as the test wants.
#[test]
fn a_full_server_answers_503_with_retry_after_and_admits_again_once_free() {
    let stall = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let upstream = format!("http://{}", stall.local_addr().expect("addr"));
    let (mut c, g) = authed();
    c.role = Role::Gateway;
    c.preprocess_url = Some(upstream.clone());
    c.embed_url = Some(upstream.clone());
    c.analyze_url = Some(upstream);
    c.max_inflight = 1;
    let server = start(c, Some(g)).expect("server");
    let mut png = Vec::new();
    image::RgbImage::new(16, 16)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("png");
    std::thread::scope(|s| {
        let first = s.spawn(|| post_image(&server.url, "/v1/analyze", png.clone()));
        // Admitted and waiting on its upstream once the gateway connects to it.
        let (held, _) = stall
            .accept()
            .expect("the gateway calls its preprocess role");
        for _ in 0..3 {
            let r = post_image(&server.url, "/v1/analyze", png.clone());
            assert_eq!(r.status(), 503);
            assert!(r.headers().contains_key("retry-after"));
            assert_eq!(json::<ErrorBody>(r).code, "overloaded");
        }
        assert_eq!(rejected_total(&server.url), 3, "every 503 is counted");
        drop(held);
        let r = first.join().expect("join");
        assert_eq!(r.status(), 502, "the upstream hung up");
        assert_eq!(json::<ErrorBody>(r).code, "upstream_unreachable");
    });
    // The slot was freed before that answer was written: the next request is admitted (and
    // fails upstream, now that nothing listens there).
    drop(stall);
    let r = post_image(&server.url, "/v1/analyze", png);
    assert_eq!(r.status(), 502);
    assert_eq!(rejected_total(&server.url), 3);
}

#[test]
fn gallery_enrol_search_rename_delete_and_verify() {
    let dir = faces_dir();
    let (c, g) = authed();
    let gallery_dir = g.path().to_path_buf();
    let server = start(c, Some(g)).expect("server");
    let a: Analysis = json(post_image(
        &server.url,
        "/v1/analyze",
        std::fs::read(dir.join("img1.jpg")).expect("img1"),
    ));
    let face = &a.faces[0];
    let thumb = image::RgbImage::new(112, 112);
    let enrol = EnrolRequest {
        name: "person01".into(),
        source: "img1.jpg".into(),
        embedding: face.embedding.clone(),
        thumbnail_png: facelens_api::wire::png_base64(&thumb).expect("png"),
    };
    let r = post_json(&server.url, "/v1/gallery", &enrol);
    assert_eq!(r.status(), 201);
    let entry: facelens_core::gallery::Entry = json(r);
    assert!(
        gallery_dir.join("gallery.db").is_file(),
        "same store as the desktop"
    );

    // Another photo of the same person finds the entry through /v1/analyze.
    let b: Analysis = json(post_image(
        &server.url,
        "/v1/analyze",
        std::fs::read(dir.join("img2.jpg")).expect("img2"),
    ));
    let m = &b.faces[0].matches[0];
    assert_eq!(
        (m.id, m.name.as_str(), m.same_person),
        (entry.id, "person01", true)
    );
    let s: SearchResponse = json(post_json(
        &server.url,
        "/v1/search",
        &serde_json::json!({"embedding": b.faces[0].embedding, "k": 3}),
    ));
    assert_eq!(s.matches[0].id, entry.id);

    let r = client()
        .patch(format!("{}/v1/gallery/{}", server.url, entry.id))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"name": "Ann"}))
        .send()
        .expect("rename");
    assert_eq!(json::<facelens_core::gallery::Entry>(r).name, "Ann");
    let r = client()
        .get(format!("{}/v1/gallery/{}/thumbnail", server.url, entry.id))
        .bearer_auth(TOKEN)
        .send()
        .expect("thumb");
    assert_eq!(r.headers()["content-type"], "image/png");
    let list: GalleryList = json(
        client()
            .get(format!("{}/v1/gallery", server.url))
            .bearer_auth(TOKEN)
            .send()
            .expect("list"),
    );
    assert_eq!(list.entries.len(), 1);
    let r = client()
        .delete(format!("{}/v1/gallery/{}", server.url, entry.id))
        .bearer_auth(TOKEN)
        .send()
        .expect("delete");
    assert_eq!(r.status(), 204);
    let r = client()
        .delete(format!("{}/v1/gallery/{}", server.url, entry.id))
        .bearer_auth(TOKEN)
        .send()
        .expect("delete again");
    assert_eq!(r.status(), 404);

    // Verify: same person, different people.
    let b64 = |f: &str| STANDARD.encode(std::fs::read(dir.join(f)).expect("photo"));
    let verify = |x: &str, y: &str| -> VerifyResponse {
        json(post_json(
            &server.url,
            "/v1/verify",
            &serde_json::json!({"image_a": b64(x), "image_b": b64(y)}),
        ))
    };
    assert!(verify("img1.jpg", "img2.jpg").same_person);
    let people = common::identities(&dir);
    let other = people
        .iter()
        .find(|(_, p)| p != "person01")
        .expect("another person");
    assert!(!verify("img1.jpg", &other.0).same_person);
}

#[test]
fn split_roles_give_the_same_result_as_one_process() {
    let dir = faces_dir();
    let role = |r: Role| {
        let (mut c, g) = authed();
        c.role = r;
        start(c, Some(g)).expect("role server")
    };
    let pre = role(Role::Preprocess);
    let emb = role(Role::Embed);
    let ana = role(Role::Analyze);
    let (mut c, g) = authed();
    c.role = Role::Gateway;
    c.preprocess_url = Some(pre.url.clone());
    c.embed_url = Some(emb.url.clone());
    c.analyze_url = Some(ana.url.clone());
    c.upstream_token = Some(TOKEN.into());
    let gateway = start(c, Some(g)).expect("gateway");
    let bytes = std::fs::read(dir.join("selfie-many-people.jpg")).expect("photo");
    let split: Analysis = json(post_image(&gateway.url, "/v1/analyze", bytes.clone()));
    let mut local = local_pipeline();
    let whole = local.analyze_bytes(&bytes, None).expect("local").analysis;
    assert_eq!(split.faces.len(), 7);
    assert_same_analysis(&whole, &split);
    // A role serves only its own stage.
    let r = post_image(&emb.url, "/v1/analyze", bytes);
    assert_eq!(r.status(), 404);
    assert_eq!(json::<ErrorBody>(r).code, "not_served_by_role");
}

#[test]
fn a_gpu_provider_that_cannot_start_stops_the_server() {
    use facelens_core::runtime::ExecutionTarget;
    for (provider, name) in [
        (ExecutionTarget::Cuda, "cuda"),
        (ExecutionTarget::TensorRt, "tensorrt"),
    ] {
        let (mut c, g) = config();
        c.provider = provider;
        let e = start(c, Some(g)).err().expect("must not start");
        assert!(e.to_lowercase().contains(name), "{e}");
    }
}

#[test]
fn tls_serves_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("cert");
    let cert_pem = key.cert.pem();
    std::fs::write(dir.path().join("cert.pem"), &cert_pem).expect("write");
    std::fs::write(dir.path().join("key.pem"), key.signing_key.serialize_pem()).expect("write");
    let (mut c, g) = authed();
    c.tls_cert = Some(dir.path().join("cert.pem"));
    c.tls_key = Some(dir.path().join("key.pem"));
    let server = start(c, Some(g)).expect("TLS server");
    assert!(server.url.starts_with("https://"));
    let trusted = reqwest::blocking::Client::builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("pem")])
        .build()
        .expect("client");
    let r = trusted
        .get(format!("{}/v1/version", server.url))
        .bearer_auth(TOKEN)
        .send()
        .expect("https request");
    assert_eq!(r.status(), 200);
    let plain = server.url.replace("https://", "http://");
    assert!(
        client()
            .get(format!("{plain}/livez"))
            .send()
            .map_or(true, |r| !r.status().is_success()),
        "plain HTTP must not be served on the TLS port"
    );
}

/// A small PNG that declares `w`×`h` in its header but holds almost no pixel data (a
/// decompression bomb's shape; decoding it would allocate w×h×3 bytes and then fail). The server
/// must refuse it from the header alone.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in bytes {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |body: &[u8]| {
        png.extend(u32::try_from(body.len() - 4).expect("small").to_be_bytes());
        png.extend(body);
        png.extend(crc32(body).to_be_bytes());
    };
    chunk(&ihdr);
    chunk(b"IDAT\x78\x9c\x03\x00\x00\x00\x00\x01");
    chunk(b"IEND");
    png
}

fn b64png(img: &image::RgbImage) -> String {
    facelens_api::wire::png_base64(img).expect("png")
}

#[test]
fn hostile_crops_and_boxes_are_refused_before_any_work_and_the_server_stays_up() {
    let dir = faces_dir();
    let (c, g) = authed();
    let server = start(c, Some(g)).expect("server");
    // A real face, cut by the server's own preprocess stage.
    let pre: facelens_api::wire::PreprocessResponse = json(post_image(
        &server.url,
        "/v1/preprocess",
        std::fs::read(dir.join("img1.jpg")).expect("photo"),
    ));
    let good = pre.faces[0].clone();
    let post_faces = |faces: Vec<FaceCrop>| {
        post_json(
            &server.url,
            "/v1/faces",
            &FacesRequest {
                faces,
                top_k: 1,
                search: false,
            },
        )
    };
    // Rows 1-2: absurd boxes (once an abort and a dead analyze thread) are a 422 each.
    for side in [1e6f32, 1e30] {
        for path in ["/v1/faces", "/v1/attributes"] {
            let mut bad = good.clone();
            bad.bbox_in_patch = facelens_core::api::BoxPx {
                x1: 0.0,
                y1: 0.0,
                x2: side,
                y2: side,
            };
            let r = if path == "/v1/faces" {
                post_faces(vec![bad])
            } else {
                post_json(
                    &server.url,
                    path,
                    &facelens_api::wire::AttributesRequest { faces: vec![bad] },
                )
            };
            assert_eq!(r.status(), 422, "{path} box side {side}");
        }
    }
    // Row 3: crops declaring huge images are refused from their headers.
    let bomb = base64::engine::general_purpose::STANDARD.encode(png_header_only(7000, 7000));
    let mut huge_patch = good.clone();
    huge_patch.patch_png = bomb.clone();
    let r = post_faces(vec![huge_patch.clone()]);
    assert_eq!(r.status(), 422, "a 7000x7000 patch");
    let msg = json::<ErrorBody>(r).message;
    assert!(msg.contains("at most 4096"), "{msg}");
    let r = post_faces(vec![huge_patch; 8]);
    assert_eq!(
        r.status(),
        413,
        "8 x 49 MP patches: over the request's pixel budget"
    );
    let mut huge_aligned = good.clone();
    huge_aligned.aligned_png = bomb;
    assert_eq!(
        post_faces(vec![huge_aligned]).status(),
        422,
        "a 7000x7000 aligned crop"
    );
    let mut big = good.clone();
    big.patch_png = base64::engine::general_purpose::STANDARD.encode(png_header_only(4000, 4000));
    let r = post_faces(vec![big; 8]);
    assert_eq!(
        r.status(),
        413,
        "8 x 16 MP patches are over the request's pixel budget"
    );
    // Row 12: a form with only a text field says what is missing.
    let form = reqwest::blocking::multipart::Form::new().text("note", "hello");
    let r = client()
        .post(format!("{}/v1/analyze", server.url))
        .bearer_auth(TOKEN)
        .multipart(form)
        .send()
        .expect("multipart");
    assert_eq!(r.status(), 400);
    assert!(json::<ErrorBody>(r).message.contains("no image part"));
    // The server is healthy and serves a real face.
    let ready = client()
        .get(format!("{}/readyz", server.url))
        .send()
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let r = post_faces(vec![good]);
    assert_eq!(r.status(), 200);
    let f: FacesResponse = json(r);
    assert_eq!(f.faces.len(), 1);
}

#[test]
fn bad_enrolments_are_refused_and_store_nothing() {
    let (c, g) = authed();
    let server = start(c, Some(g)).expect("server");
    let mut unit = vec![0.0f32; 512];
    unit[0] = 1.0;
    let thumb = b64png(&image::RgbImage::new(112, 112));
    let enrol = |name: &str, source: &str, embedding: &[f32], thumbnail: &str| {
        post_json(
            &server.url,
            "/v1/gallery",
            &EnrolRequest {
                name: name.into(),
                source: source.into(),
                embedding: embedding.to_vec(),
                thumbnail_png: thumbnail.into(),
            },
        )
        .status()
    };
    let bomb = base64::engine::general_purpose::STANDARD.encode(png_header_only(7000, 7000));
    let cases = [
        (
            "huge embedding values (row 10)",
            enrol("A", "a", &[3e38; 512], &thumb),
        ),
        (
            "tiny embedding values (row 10)",
            enrol("A", "a", &[1e-45; 512], &thumb),
        ),
        ("7000x7000 thumbnail (row 7)", enrol("A", "a", &unit, &bomb)),
        (
            "5 MB source (row 7)",
            enrol("A", &"s".repeat(5_000_000), &unit, &thumb),
        ),
        (
            "ESC in the source (row 8)",
            enrol("A", "a\u{1b}[2J", &unit, &thumb),
        ),
        ("NUL in the name (row 8)", enrol("A\0B", "a", &unit, &thumb)),
        (
            "zero-width name (row 8)",
            enrol("\u{200B}\u{2060}", "a", &unit, &thumb),
        ),
        (
            "right-to-left override (row 8)",
            enrol("Eve\u{202E}gnp", "a", &unit, &thumb),
        ),
    ];
    for (what, status) in cases {
        assert_eq!(status, 422, "{what}");
    }
    let list: GalleryList = json(
        client()
            .get(format!("{}/v1/gallery", server.url))
            .bearer_auth(TOKEN)
            .send()
            .expect("list"),
    );
    assert!(
        list.entries.is_empty(),
        "nothing was stored: {:?}",
        list.entries
    );
    assert_eq!(
        enrol("Ann", "a.jpg", &unit, &thumb),
        201,
        "a good enrolment still works"
    );

    // Row 13: messages that say what is wrong. A control character in a short name is named as
    // such; a 1×1 thumbnail is a valid thumbnail (no face search applies to it).
    let r = post_json(
        &server.url,
        "/v1/gallery",
        &EnrolRequest {
            name: "A\tB".into(),
            source: "a".into(),
            embedding: unit.clone(),
            thumbnail_png: thumb.clone(),
        },
    );
    assert_eq!(r.status(), 422);
    let msg = json::<ErrorBody>(r).message;
    assert!(msg.contains("control character U+0009"), "{msg}");
    let tiny = b64png(&image::RgbImage::new(1, 1));
    let mut other = unit.clone();
    other.swap(0, 1);
    assert_eq!(enrol("Bo", "b.jpg", &other, &tiny), 201, "a 1x1 thumbnail");
}

/// Row 13: a header that asks the decoder for more than it will allocate is "too large" (413),
/// not "corrupt" (422).
#[test]
fn headers_asking_for_billions_of_pixels_are_413() {
    let (c, g) = authed();
    let server = start(c, Some(g)).expect("server");
    for (what, bytes) in [
        ("2^31-pixel PNG", png_header_only(65_536, 32_768)),
        ("100000x100000 BMP", bmp_header(100_000, 100_000)),
    ] {
        let r = post_image(&server.url, "/v1/analyze", bytes);
        assert_eq!(r.status(), 413, "{what}");
        assert_eq!(json::<ErrorBody>(r).code, "image_too_large", "{what}");
    }
}

/// Row 13: a server that cannot load says why once.
#[test]
fn a_load_failure_is_reported_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_a_folder = dir.path().join("file");
    std::fs::write(&not_a_folder, "x").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_facelens-server"))
        .arg("serve")
        .env("FACELENS_LISTEN", "127.0.0.1:0")
        .env("FACELENS_GALLERY", not_a_folder.join("gallery"))
        .env("NO_COLOR", "1")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    let cause = errors[0].rsplit(": ").next().unwrap_or_default();
    assert!(!cause.is_empty());
    assert_eq!(errors[0].matches(cause).count(), 1, "said twice: {stderr}");
}

#[test]
fn a_trickling_upload_does_not_hold_a_slot() {
    use std::io::Write;
    let dir = faces_dir();
    let (mut c, g) = authed();
    c.max_inflight = 1;
    let server = start(c, Some(g)).expect("server");
    let addr = server.url.trim_start_matches("http://").to_owned();
    // Two clients announce a 100 kB upload and send 10 bytes of it, then stall.
    let mut slow: Vec<std::net::TcpStream> = (0..2)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&addr).expect("connect");
            write!(
                s,
                "POST /v1/analyze HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
                 Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n0123456789"
            )
            .expect("send");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let bytes = std::fs::read(dir.join("img5.jpg")).expect("photo");
    for _ in 0..3 {
        let r = post_image(&server.url, "/v1/analyze", bytes.clone());
        assert_eq!(
            r.status(),
            200,
            "a complete request is served while uploads trickle"
        );
    }
    for s in &mut slow {
        let _ = s.write_all(b"more");
    }
}

#[test]
fn silent_half_sent_and_idle_connections_are_closed() {
    use std::io::{Read, Write};
    let (mut c, g) = authed();
    c.header_timeout_ms = 500;
    let server = start(c, Some(g)).expect("server");
    let addr = server.url.trim_start_matches("http://").to_owned();
    // A client that connects and never sends a byte.
    let silent = std::net::TcpStream::connect(&addr).expect("connect");
    let mut half = std::net::TcpStream::connect(&addr).expect("connect");
    half.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n")
        .expect("send");
    // A kept-alive connection that has been answered and then goes quiet.
    let mut kept = std::net::TcpStream::connect(&addr).expect("connect");
    kept.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let mut first = [0u8; 12];
    kept.read_exact(&mut first).expect("response");
    assert_eq!(&first, b"HTTP/1.1 200");
    for (what, mut s) in [
        ("never-speaking", silent),
        ("half-sent headers", half),
        ("quiet kept-alive", kept),
    ] {
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let t = std::time::Instant::now();
        let mut buf = Vec::new();
        // The server closes the connection (EOF, or a reset) well before the 10 s read timeout.
        let _ = s.read_to_end(&mut buf);
        assert!(
            t.elapsed() < Duration::from_secs(8),
            "{what}: the connection stayed open {:?}",
            t.elapsed()
        );
    }
    // A normal request still works.
    let r = client()
        .get(format!("{}/livez", server.url))
        .send()
        .expect("livez");
    assert_eq!(r.status(), 200);
}

#[test]
fn people_photos_group_name_find_over_http() {
    use facelens_api::wire::{FindRequest, FindResponse, GroupFaces, PeopleList, PhotoAdded};
    let dir = faces_dir();
    let (c, g) = authed();
    let server = start(c, Some(g)).expect("server");
    let a = ["img1.jpg", "img2.jpg", "img4.jpg", "img5.jpg"];
    let b = ["img8.jpg", "img9.jpg", "img47.jpg"];
    let mut face_of = std::collections::HashMap::new();
    for f in a.iter().chain(&b) {
        let r = post_image(
            &server.url,
            &format!("/v1/people/photos?path=library/{f}"),
            std::fs::read(dir.join(f)).expect("photo"),
        );
        assert_eq!(r.status(), 201, "{f}");
        let added: PhotoAdded = json(r);
        assert_eq!(added.faces.len(), added.analysis.faces.len());
        face_of.insert(*f, added.faces[0]);
    }
    // The same key again is refused, and nothing is added.
    let r = post_image(
        &server.url,
        "/v1/people/photos?path=library/img1.jpg",
        std::fs::read(dir.join("img1.jpg")).expect("photo"),
    );
    assert_eq!(r.status(), 409);
    let list: PeopleList = json(
        client()
            .get(format!("{}/v1/people", server.url))
            .bearer_auth(TOKEN)
            .send()
            .expect("list"),
    );
    let group_with = |face: u64| {
        list.groups
            .iter()
            .find(|g| {
                let faces: GroupFaces = json(
                    client()
                        .get(format!("{}/v1/people/{}", server.url, g.id))
                        .bearer_auth(TOKEN)
                        .send()
                        .expect("group"),
                );
                faces.faces.iter().any(|f| f.id == face)
            })
            .map(|g| g.id)
            .expect("grouped")
    };
    let ga = group_with(face_of["img1.jpg"]);
    let gb = group_with(face_of["img8.jpg"]);
    assert_ne!(ga, gb);
    for f in &a {
        assert_eq!(group_with(face_of[f]), ga, "{f}");
    }
    for f in &b {
        assert_eq!(group_with(face_of[f]), gb, "{f}");
    }
    // Name both; the named faces are in the gallery; differently named groups do not merge.
    for (gid, name) in [(ga, "Ada"), (gb, "Bea")] {
        let r = client()
            .patch(format!("{}/v1/people/{gid}", server.url))
            .bearer_auth(TOKEN)
            .json(&facelens_api::wire::RenameRequest { name: name.into() })
            .send()
            .expect("name");
        assert_eq!(r.status(), 200);
    }
    let gallery: facelens_api::wire::GalleryList = json(
        client()
            .get(format!("{}/v1/gallery", server.url))
            .bearer_auth(TOKEN)
            .send()
            .expect("gallery"),
    );
    assert_eq!(
        gallery.entries.iter().filter(|e| e.name == "Ada").count(),
        a.len()
    );
    let r = post_json(
        &server.url,
        &format!("/v1/people/{ga}/merge"),
        &facelens_api::wire::MergeRequest { from: gb },
    );
    assert_eq!(r.status(), 409);
    let body: ErrorBody = json(r);
    assert_eq!(body.code, "people_conflict");
    // Find Ada from another photo of her: the four library photos, best first.
    let other: Analysis = json(post_image(
        &server.url,
        "/v1/analyze",
        std::fs::read(dir.join("img6.jpg")).expect("photo"),
    ));
    assert_eq!(other.faces[0].matches[0].name, "Ada");
    let found: FindResponse = json(post_json(
        &server.url,
        "/v1/people/find",
        &FindRequest {
            embedding: other.faces[0].embedding.clone(),
            limit: 10,
        },
    ));
    let photos: std::collections::BTreeSet<String> =
        found.photos.iter().map(|p| p.photo.clone()).collect();
    let want: std::collections::BTreeSet<String> =
        a.iter().map(|f| format!("library/{f}")).collect();
    assert_eq!(photos, want);
    // A face's thumbnail, and unknown ids as JSON 404s.
    let r = client()
        .get(format!(
            "{}/v1/people/faces/{}/thumbnail",
            server.url, face_of["img1.jpg"]
        ))
        .bearer_auth(TOKEN)
        .send()
        .expect("thumbnail");
    assert_eq!(r.status(), 200);
    assert!(r.bytes().expect("png").starts_with(b"\x89PNG"));
    let r = client()
        .get(format!("{}/v1/people/999999", server.url))
        .bearer_auth(TOKEN)
        .send()
        .expect("404");
    assert_eq!(r.status(), 404);
    let body: ErrorBody = json(r);
    assert_eq!(body.code, "no_such_group");

    // A group's faces come in pages.
    let page = |offset: usize| -> GroupFaces {
        json(
            client()
                .get(format!(
                    "{}/v1/people/{ga}?offset={offset}&limit=3",
                    server.url
                ))
                .bearer_auth(TOKEN)
                .send()
                .expect("page"),
        )
    };
    let (p1, p2) = (page(0), page(3));
    assert_eq!((p1.faces.len(), p1.next_offset), (3, Some(3)));
    assert_eq!((p2.faces.len(), p2.next_offset), (a.len() - 3, None));

    // Strict bodies (row 7): a misspelt or missing `group` is refused and moves nothing.
    let img1_face = face_of["img1.jpg"];
    for body in [format!("{{\"gruop\":{gb}}}"), "{}".to_owned()] {
        let r = client()
            .put(format!("{}/v1/people/faces/{img1_face}", server.url))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .expect("move");
        assert_eq!(r.status(), 400, "{body}");
        assert_eq!(json::<ErrorBody>(r).code, "bad_request");
    }
    assert_eq!(
        group_with(img1_face),
        ga,
        "the face stayed in its named group"
    );
    let r = client()
        .post(format!("{}/v1/gallery", server.url))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(r#"{"name":"X","source":"s","embedding":[],"thumbnail_png":"","nmae":"Y"}"#)
        .send()
        .expect("enrol");
    assert_eq!(r.status(), 400, "an unknown field is refused");

    // Exact keys (row 5): a path that is not UTF-8 once decoded, or an unknown parameter, is
    // refused before anything is analysed or stored.
    let groups_before: PeopleList = json(
        client()
            .get(format!("{}/v1/people", server.url))
            .bearer_auth(TOKEN)
            .send()
            .expect("list"),
    );
    for q in [
        "path=library/a%ffb.jpg",
        "path=library/a%feb.jpg",
        "path=x.jpg&bogus=1",
        "",
    ] {
        let r = post_image(
            &server.url,
            &format!("/v1/people/photos?{q}"),
            std::fs::read(dir.join("img3.jpg")).expect("photo"),
        );
        assert_eq!(r.status(), 400, "{q}");
    }
    let groups_after: PeopleList = json(
        client()
            .get(format!("{}/v1/people", server.url))
            .bearer_auth(TOKEN)
            .send()
            .expect("list"),
    );
    assert_eq!(groups_before, groups_after, "nothing was added");
}

#[test]
fn check_config_never_prints_a_database_password() {
    let run = |gallery: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_facelens-server"))
            .arg("check-config")
            .env("FACELENS_GALLERY", gallery)
            .output()
            .expect("runs")
    };
    for url in [
        "postgres://alice:S3cretPW@db.example/facelens",
        "postgres://alice@db.example/facelens?sslmode=require&password=S3cretPW",
    ] {
        let out = run(url);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        assert!(text.contains("db.example/facelens"), "{text}");
        assert!(!text.contains("S3cretPW"), "{text}");
    }
    for bad in [
        "postgress://alice:S3cretPW@db.example/facelens",
        "host=db user=alice password=S3cretPW",
    ] {
        let out = run(bad);
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{bad}");
        assert!(text.contains("invalid gallery location"), "{text}");
        assert!(!text.contains("S3cretPW"), "{text}");
    }
}

fn metric(url: &str, name: &str) -> f64 {
    let text = client()
        .get(format!("{url}/metrics"))
        .send()
        .and_then(reqwest::blocking::Response::text)
        .expect("metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// A 112×112 thumbnail of noise (incompressible: about 37 KB as PNG).
fn noise_thumbnail(seed: u32) -> String {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let img = image::RgbImage::from_fn(112, 112, |_, _| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        image::Rgb([x as u8, (x >> 8) as u8, (x >> 16) as u8])
    });
    b64png(&img)
}

/// Row 2: thumbnail pages are bounded by bytes, responses held by clients that never read are
/// counted against the budget (more are refused), and the write timeout frees them.
#[test]
fn gallery_pages_are_bounded_and_unread_responses_are_capped_and_dropped() {
    use std::io::Write as _;
    let (mut c, g) = authed();
    c.max_inflight_mib = 4;
    c.max_pixels = 400_000;
    c.max_body_mib = 1;
    c.write_timeout_ms = 1000;
    let server = start(c, Some(g)).expect("server");
    let n = 120;
    for i in 0..n {
        let r = post_json(
            &server.url,
            "/v1/gallery",
            &EnrolRequest {
                name: format!("P{}", i % 7),
                source: "noise".into(),
                embedding: unit_vector(u64::from(i)),
                thumbnail_png: noise_thumbnail(i),
            },
        );
        assert_eq!(r.status(), 201);
    }
    // Pages of at most about 1 MiB, which together hold every entry.
    let mut after = 0;
    let mut seen = 0;
    loop {
        let r = client()
            .get(format!(
                "{}/v1/gallery?thumbnails=true&limit=1000&after_id={after}",
                server.url
            ))
            .bearer_auth(TOKEN)
            .send()
            .expect("page");
        let body = r.bytes().expect("body");
        assert!(
            body.len() < (1 << 20) + (64 << 10),
            "page of {} bytes",
            body.len()
        );
        let page: GalleryList = serde_json::from_slice(&body).expect("page");
        seen += page.entries.len();
        assert!(page.entries.iter().all(|e| e.thumbnail_png.is_some()));
        match page.next_after_id {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(seen, n as usize);

    // Twelve clients ask for a page each and never read. What the server holds for them is
    // never more than the budget and is given back (the kernel takes a page whole, or the write
    // timeout cuts the client off: `WriteTimeout`'s own test), and others are still served.
    let addr = server.url.trim_start_matches("http://").to_owned();
    let request = format!(
        "GET /v1/gallery?thumbnails=true&limit=1000 HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    );
    let answered = |status: &str| {
        metric(
            &server.url,
            &format!("facelens_requests_total{{route=\"/v1/gallery\",status=\"{status}\"}}"),
        )
    };
    let before = answered("200") + answered("503");
    let mut silent = Vec::new();
    let sockaddr: std::net::SocketAddr = addr.parse().expect("address");
    for _ in 0..12 {
        // A small receive window, as a slow or hostile reader has.
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        s.set_recv_buffer_size(4096).expect("rcvbuf");
        s.connect(&sockaddr.into()).expect("connect");
        let mut s: std::net::TcpStream = s.into();
        s.write_all(request.as_bytes()).expect("send");
        silent.push(s);
    }
    let budget = 4.0 * 1024.0 * 1024.0;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while answered("200") + answered("503") < before + 12.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the silent clients' requests were not answered: {before} then {} + {}",
            answered("200"),
            answered("503")
        );
        assert!(metric(&server.url, "facelens_inflight_bytes") <= budget);
        std::thread::sleep(Duration::from_millis(50));
    }
    while metric(&server.url, "facelens_inflight_bytes") > 0.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "unread responses are still held after the write timeout"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(silent);
    // The server still serves.
    let r = client()
        .get(format!("{}/v1/gallery?limit=5", server.url))
        .bearer_auth(TOKEN)
        .send()
        .expect("list");
    assert_eq!(r.status(), 200);
}

/// Row 10: requests whose decoded pixels would not fit what is left of the memory budget wait
/// for room (503) rather than exceed it.
#[test]
fn face_crops_are_decoded_only_within_the_memory_budget() {
    let (mut c, g) = authed();
    // Room for one request of three 4096² patches (384 MiB at 8 B a pixel), not two.
    c.max_inflight_mib = 480;
    let server = start(c, Some(g)).expect("server");
    let blank = b64png(&image::RgbImage::new(4096, 4096));
    let aligned = b64png(&image::RgbImage::new(112, 112));
    let crop = FaceCrop {
        aligned_png: aligned,
        patch_png: blank,
        bbox_in_patch: facelens_core::api::BoxPx {
            x1: 1000.0,
            y1: 1000.0,
            x2: 3000.0,
            y2: 3000.0,
        },
    };
    let three = FacesRequest {
        faces: vec![crop; 3],
        top_k: 1,
        search: false,
    };
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    post_json(&server.url, "/v1/faces", &three)
                        .status()
                        .as_u16()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("join"))
            .collect()
    });
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200), "{statuses:?}");
    assert_eq!(metric(&server.url, "facelens_inflight_bytes"), 0.0);
}

/// The real `facelens-server` binary on `gallery`, listening on a free loopback port; returns it
/// with its URL once `/readyz` answers 200. Its log is drained on a thread.
fn spawn_server_process(gallery: &std::path::Path) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_facelens-server"))
        .arg("serve")
        .env("FACELENS_LISTEN", "127.0.0.1:0")
        .env("FACELENS_TOKENS", TOKEN)
        .env("FACELENS_GALLERY", gallery)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start facelens-server");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            let (_, rest) = l.split_once("listening on ")?;
            Some(rest.split_whitespace().next()?.to_owned())
        })
        .expect("the server says where it listens");
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    let url = format!("http://{addr}");
    let start = std::time::Instant::now();
    while client()
        .get(format!("{url}/readyz"))
        .send()
        .map_or(true, |r| r.status() != 200)
    {
        assert!(start.elapsed() < Duration::from_secs(120), "not ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, url)
}

/// A deterministic unit vector.
fn unit_vector(seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut v: Vec<f32> = (0..512)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let r = (x >> 40) as f32 / (1u64 << 24) as f32;
            r - 0.5
        })
        .collect();
    facelens_core::models::embedder::l2_normalize(&mut v);
    v
}

#[test]
fn kill_9_of_the_server_loses_no_acknowledged_enrolment() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let g = tempfile::tempdir().expect("tempdir");
    let thumb = facelens_api::wire::png_base64(&image::RgbImage::new(112, 112)).expect("png");
    // (id, seed of its embedding) for every enrolment answered 201.
    let mut acked: Vec<(u64, u64)> = Vec::new();
    // Killed at several moments while a client enrols continuously.
    for (round, wait_ms) in [250u64, 600, 1100].into_iter().enumerate() {
        let (mut server, url) = spawn_server_process(g.path());
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, thumb) = (stop.clone(), thumb.clone());
        let enroller = std::thread::spawn(move || {
            let mut ids = Vec::new();
            let mut k = 0u64;
            while !stop2.load(Ordering::Relaxed) {
                k += 1;
                let seed = round as u64 * 1_000_000 + k;
                let req = EnrolRequest {
                    name: format!("p{round}-{}", k % 7),
                    source: "kill test".into(),
                    embedding: unit_vector(seed),
                    thumbnail_png: thumb.clone(),
                };
                // A refused connection or a cut answer is not an acknowledgement.
                match client()
                    .post(format!("{url}/v1/gallery"))
                    .bearer_auth(TOKEN)
                    .json(&req)
                    .send()
                {
                    Ok(r) if r.status() == 201 => {
                        if let Ok(e) = r.json::<facelens_core::gallery::Entry>() {
                            ids.push((e.id, seed));
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            ids
        });
        std::thread::sleep(Duration::from_millis(wait_ms));
        server.kill().expect("kill -9");
        server.wait().expect("wait");
        stop.store(true, Ordering::Relaxed);
        acked.extend(enroller.join().expect("enroller"));
    }
    assert!(
        !acked.is_empty(),
        "nothing was acknowledged before the kills"
    );
    let (mut server, url) = spawn_server_process(g.path());
    let list: facelens_api::wire::GalleryList = json(
        client()
            .get(format!("{url}/v1/gallery"))
            .bearer_auth(TOKEN)
            .send()
            .expect("list"),
    );
    let stored: std::collections::BTreeSet<u64> = list.entries.iter().map(|e| e.id).collect();
    let lost: Vec<u64> = acked
        .iter()
        .map(|a| a.0)
        .filter(|id| !stored.contains(id))
        .collect();
    eprintln!(
        "server kill -9: {} acknowledged, {} stored, {} lost",
        acked.len(),
        stored.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    // The index agrees with the database: the last acknowledged face is found by its embedding.
    let (last, seed) = *acked.last().expect("one");
    let hits: SearchResponse = json(post_json(
        &url,
        "/v1/search",
        &facelens_api::wire::SearchRequest {
            embedding: unit_vector(seed),
            k: 1,
        },
    ));
    assert_eq!(hits.matches.first().map(|m| m.id), Some(last));
    server.kill().expect("stop");
    server.wait().expect("wait");
}
