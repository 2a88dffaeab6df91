//! Logs never carry patient identifiers or clinical values: run the real
//! binary with verbose JSON logs, send encounters with seeded identifiers
//! (valid and invalid), and search everything it printed.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use cdssd::proto::v1::{self as pb, cds_service_client::CdsServiceClient};

use crate::support::{request, root};

const SEEDS: &[&str] = &["pt-SEEDED-7731", "enc-SEEDED-5529", "lab-SEEDED-11", "987.654", "Zhang San 张三"];

#[tokio::test]
async fn logs_contain_no_patient_data() {
    let audit_dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cdssd"))
        .arg("serve")
        .env("CDSSD__SERVER__LISTEN", "127.0.0.1:0")
        .env("CDSSD__METRICS__LISTEN", "")
        .env("CDSSD__AUDIT__DIR", audit_dir.path())
        .env("CDSSD__LOG__FORMAT", "json")
        .env("RUST_LOG", "cdssd=trace,info")
        .env("CDSSD__RULES__DIR", root().join("rules"))
        .env("CDSSD__RISK__DIR", root().join("models"))
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (line_tx, line_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = line_tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let addr = loop {
        let line = line_rx.recv_timeout(Duration::from_secs(60)).expect("server logs its address");
        lines.push(line.clone());
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
        if let Some(a) = v.pointer("/fields/addr").and_then(|a| a.as_str()) {
            break a.to_string();
        }
    };

    let mut client = CdsServiceClient::connect(format!("http://{addr}")).await.unwrap();
    let mut good = request("septic_shock.json");
    let enc = good.encounter.as_mut().unwrap();
    enc.id = SEEDS[1].into();
    enc.patient.as_mut().unwrap().id = SEEDS[0].into();
    enc.labs[0].id = SEEDS[2].into();
    enc.notes.push(pb::Note {
        id: "n-seed".into(),
        text: SEEDS[4].into(),
        authored_time: enc.arrival_time,
        ..Default::default()
    });
    if let Some(pb::observation::Value::Quantity(q)) = enc.vitals[0].value.as_mut() {
        q.value = 987.654;
    }
    client.evaluate(good.clone()).await.expect("valid request");
    let mut bad = good.clone();
    bad.encounter.as_mut().unwrap().labs[0].code.as_mut().unwrap().system = SEEDS[3].into();
    client.evaluate(bad).await.expect_err("invalid request");
    let _ = client.evaluate_stream(good).await.expect("stream");

    unsafe { libc_kill(child.id() as i32) };
    let status = child.wait().unwrap();
    assert!(status.success(), "SIGTERM leads to a clean exit: {status:?}");
    while let Ok(line) = line_rx.recv_timeout(Duration::from_secs(2)) {
        lines.push(line);
    }
    let all = lines.join("\n");
    assert!(all.contains("Request refused"), "the refusal was logged (the test saw the logs): {all}");
    for seed in SEEDS {
        assert!(!all.contains(seed), "log output contains seeded patient data {seed:?}:\n{all}");
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill_raw(pid: i32, sig: i32) -> i32;
}

unsafe fn libc_kill(pid: i32) {
    libc_kill_raw(pid, 15);
}
