//! A request head that never completes is answered 408 and still gets its
//! access record, timed from the head's first byte (virtual time). Alone
//! in its test binary: a tracing callsite first reached by another test's
//! thread while this test's subscriber is being set could cache "never"
//! for it.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use support::access_log::{Collect, Records};
use support::{limits, local, read_to_close, start};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn doc() -> Bytes {
    Bytes::from(vec![b'd'; 1234])
}

#[test]
fn a_timed_out_head_is_recorded_as_408() {
    use tracing_subscriber::layer::SubscriberExt;
    let records: Records = Arc::default();
    let subscriber = tracing_subscriber::registry().with(Collect(records.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    rt.block_on(async {
        let limits = limits(|l| l.header_read_timeout = Duration::from_secs(3));
        let mut s = local().limits(limits);
        s.get("/doc", doc);
        let running = start([s]).await;
        let mut c = TcpStream::connect(running.addr()).await.expect("connect");
        // Half a head, then silence: the header-read timeout (virtual
        // time) answers 408.
        c.write_all(b"GET /doc HTTP/1.1\r\nhost: x\r\n")
            .await
            .expect("write");
        let raw = read_to_close(&mut c).await;
        assert!(raw.starts_with("HTTP/1.1 408"), "{raw}");
        assert!(
            raw.ends_with("408 Request Timeout: request head not received in time\n"),
            "{raw}"
        );
        running.shutdown().await;
    });
    let records = records.lock().expect("records").clone();
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["status"], "408");
    // Three seconds of (virtual) waiting, from the head's first byte.
    let ms: f64 = records[0]["duration_ms"].parse().expect("duration");
    assert!((3_000.0..3_500.0).contains(&ms), "{ms}");
}
