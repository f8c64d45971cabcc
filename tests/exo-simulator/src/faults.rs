//! Fault injection rules.
//!
//! Rules form a queue. Each request to the token or InvokeCommand endpoint is matched
//! against the rules in order; the first rule that matches fires (and its count, if any, is
//! decremented; a rule whose count reaches 0 is removed). At most one rule fires per request.
//! Rules fire before any validation (authentication, headers, parameters) except
//! [`FaultAction::DropAfterWrite`], which lets the request be processed completely (a write
//! is applied if valid) and then closes the connection instead of sending the response.
//!
//! JSON form (admin API `POST /_sim/faults`):
//! `{"cmdlet": "Set-Mailbox", "count": 2, "action": {"kind": "status", "status": 429, "retry_after": 3}}`,
//! `{"action": {"kind": "drop_before_write"}}`, `{"endpoint": "token", "action": {"kind": "status", "status": 503}}`,
//! `{"action": {"kind": "delay", "ms": 300}}`.

use serde::{Deserialize, Serialize};

/// Which endpoint a rule applies to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `/adminapi/beta/{tenant}/InvokeCommand` (the default).
    #[default]
    Invoke,
    /// `/{tenant}/oauth2/v2.0/token`.
    Token,
    /// Both.
    Any,
}

/// What a rule does to the request it matches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultAction {
    /// Answer with this status (and the protocol's error body) without processing.
    /// 429 gets `Retry-After: retry_after` (default 1) and the message "Rate limit exceeded".
    Status {
        /// HTTP status.
        status: u16,
        /// `Retry-After` seconds (429 default 1; other statuses only when given).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
        /// `x-ExceptionType` header (none unless given).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exception_type: Option<String>,
        /// Error message (a default per status unless given).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Close the connection without a response, before anything is processed.
    DropBeforeWrite,
    /// Process the request completely (apply the write if valid), then close the connection
    /// without a response.
    DropAfterWrite,
    /// Wait this long, then process normally.
    Delay {
        /// Milliseconds.
        ms: u64,
    },
}

/// One rule of the queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Endpoint (default InvokeCommand).
    #[serde(default)]
    pub endpoint: Endpoint,
    /// Only requests of this cmdlet (exact name); `None` = any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmdlet: Option<String>,
    /// Only requests whose `Identity` parameter is this (case-insensitive); `None` = any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// How many more requests it fires for; `None` = every matching request, forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// What it does.
    pub action: FaultAction,
}

impl FaultRule {
    /// A rule firing once on any InvokeCommand request.
    pub fn new(action: FaultAction) -> FaultRule {
        FaultRule {
            endpoint: Endpoint::Invoke,
            cmdlet: None,
            identity: None,
            count: Some(1),
            action,
        }
    }

    /// Answer with `status` (no processing).
    pub fn status(status: u16) -> FaultRule {
        FaultRule::new(FaultAction::Status {
            status,
            retry_after: None,
            exception_type: None,
            message: None,
        })
    }

    /// 429 with `Retry-After: seconds`.
    pub fn throttle(seconds: u64) -> FaultRule {
        FaultRule::new(FaultAction::Status {
            status: 429,
            retry_after: Some(seconds),
            exception_type: None,
            message: None,
        })
    }

    /// Drop the connection before processing.
    pub fn drop_before_write() -> FaultRule {
        FaultRule::new(FaultAction::DropBeforeWrite)
    }

    /// Process, then drop the connection instead of responding.
    pub fn drop_after_write() -> FaultRule {
        FaultRule::new(FaultAction::DropAfterWrite)
    }

    /// Delay by `ms`, then process.
    pub fn delay(ms: u64) -> FaultRule {
        FaultRule::new(FaultAction::Delay { ms })
    }

    /// Fire for the next `n` matching requests.
    pub fn times(mut self, n: u64) -> FaultRule {
        self.count = Some(n);
        self
    }

    /// Fire for every matching request.
    pub fn always(mut self) -> FaultRule {
        self.count = None;
        self
    }

    /// Only for this cmdlet.
    pub fn on_cmdlet(mut self, cmdlet: &str) -> FaultRule {
        self.cmdlet = Some(cmdlet.to_owned());
        self
    }

    /// Only for requests with this `Identity`.
    pub fn on_identity(mut self, identity: &str) -> FaultRule {
        self.identity = Some(identity.to_owned());
        self
    }

    /// On the token endpoint instead of InvokeCommand.
    pub fn on_token(mut self) -> FaultRule {
        self.endpoint = Endpoint::Token;
        self
    }

    /// With this `x-ExceptionType` (status rules only).
    pub fn exception_type(mut self, t: &str) -> FaultRule {
        if let FaultAction::Status { exception_type, .. } = &mut self.action {
            *exception_type = Some(t.to_owned());
        }
        self
    }

    /// With this error message (status rules only).
    pub fn message(mut self, m: &str) -> FaultRule {
        if let FaultAction::Status { message, .. } = &mut self.action {
            *message = Some(m.to_owned());
        }
        self
    }

    /// Whether the rule applies to a request.
    pub(crate) fn matches(
        &self,
        endpoint: Endpoint,
        cmdlet: Option<&str>,
        identity: Option<&str>,
    ) -> bool {
        let endpoint_ok = self.endpoint == Endpoint::Any || self.endpoint == endpoint;
        let cmdlet_ok = match &self.cmdlet {
            None => true,
            Some(c) => cmdlet == Some(c.as_str()),
        };
        let identity_ok = match &self.identity {
            None => true,
            Some(i) => identity.is_some_and(|x| x.eq_ignore_ascii_case(i)),
        };
        endpoint_ok && cmdlet_ok && identity_ok && self.count != Some(0)
    }
}

/// Takes the first matching rule from the queue (decrementing or removing it).
pub(crate) fn take(
    queue: &mut Vec<FaultRule>,
    endpoint: Endpoint,
    cmdlet: Option<&str>,
    identity: Option<&str>,
) -> Option<FaultRule> {
    let i = queue
        .iter()
        .position(|r| r.matches(endpoint, cmdlet, identity))?;
    let fired = queue[i].clone();
    if let Some(n) = &mut queue[i].count {
        *n -= 1;
        if *n == 0 {
            queue.remove(i);
        }
    }
    Some(fired)
}
