//! The two sets of SETTINGS of a connection (RFC 9113 §6.5): ours, as
//! sent and acknowledged (§6.5.3), and the peer's, as received.

use super::frame::settings::MIN_MAX_FRAME_SIZE;
use super::frame::Settings;

/// Default SETTINGS_INITIAL_WINDOW_SIZE and connection window (§6.9.2).
pub(crate) const DEFAULT_WINDOW: u32 = 65_535;
/// Default SETTINGS_HEADER_TABLE_SIZE (§6.5.2).
pub(crate) const DEFAULT_HEADER_TABLE_SIZE: u32 = 4096;

/// Our settings: what we advertised and whether the peer acknowledged.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Local {
    pub(crate) max_concurrent_streams: u32,
    pub(crate) initial_window_size: u32,
    pub(crate) max_frame_size: u32,
    pub(crate) max_header_list_size: u32,
    pub(crate) header_table_size: u32,
    /// SETTINGS frames sent and not yet acknowledged.
    pub(crate) unacked: u32,
}

impl Local {
    /// The SETTINGS frame announcing these values (sent first, §3.4).
    pub(crate) fn frame(&self) -> Settings {
        Settings {
            ack: false,
            header_table_size: (self.header_table_size != DEFAULT_HEADER_TABLE_SIZE)
                .then_some(self.header_table_size),
            // A server never pushes; ENABLE_PUSH is a client's setting.
            enable_push: None,
            max_concurrent_streams: Some(self.max_concurrent_streams),
            initial_window_size: Some(self.initial_window_size),
            max_frame_size: Some(self.max_frame_size),
            max_header_list_size: Some(self.max_header_list_size),
            // RFC 8441 §3: we take extended CONNECT (WebSocket over h2).
            enable_connect_protocol: Some(1),
        }
    }

    /// The largest frame we accept. Until the peer acknowledges, it may
    /// still use the default, so the larger of the two is accepted.
    pub(crate) fn recv_max_frame_size(&self) -> u32 {
        self.max_frame_size.max(MIN_MAX_FRAME_SIZE)
    }

    /// The receive window of a new stream: until our SETTINGS is
    /// acknowledged the peer may assume the default (§6.9.2), so the larger
    /// value is accepted.
    pub(crate) fn stream_recv_initial(&self) -> u32 {
        if self.unacked > 0 {
            self.initial_window_size.max(DEFAULT_WINDOW)
        } else {
            self.initial_window_size
        }
    }
}

/// The peer's settings as last received (RFC defaults until then).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer {
    pub(crate) header_table_size: u32,
    pub(crate) initial_window_size: u32,
    pub(crate) max_frame_size: u32,
    pub(crate) max_header_list_size: Option<u32>,
}

impl Default for Peer {
    fn default() -> Self {
        Peer {
            header_table_size: DEFAULT_HEADER_TABLE_SIZE,
            initial_window_size: DEFAULT_WINDOW,
            max_frame_size: MIN_MAX_FRAME_SIZE,
            max_header_list_size: None,
        }
    }
}

/// What applying a peer SETTINGS frame changed, for the connection to act
/// on.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Applied {
    /// New INITIAL_WINDOW_SIZE minus the old one (§6.9.2).
    pub(crate) window_delta: i64,
    /// New HEADER_TABLE_SIZE, if it was given.
    pub(crate) header_table_size: Option<u32>,
}

impl Peer {
    /// Applies a validated (non-ACK) SETTINGS frame.
    pub(crate) fn apply(&mut self, s: &Settings) -> Applied {
        let mut out = Applied::default();
        if let Some(v) = s.initial_window_size {
            out.window_delta = i64::from(v) - i64::from(self.initial_window_size);
            self.initial_window_size = v;
        }
        if let Some(v) = s.max_frame_size {
            self.max_frame_size = v;
        }
        if let Some(v) = s.header_table_size {
            self.header_table_size = v;
            out.header_table_size = Some(v);
        }
        if let Some(v) = s.max_header_list_size {
            self.max_header_list_size = Some(v);
        }
        out
    }
}
