//! How an event source (signals, the control socket, readiness probes, the config watcher)
//! hands what it observes to its consumer without naming the consumer's event type: any
//! channel whose item type can be made from the observation is a sink for it. The sources
//! stay independent of the loop that consumes them, and a test can consume them directly.

use tokio::sync::mpsc::UnboundedSender;

pub trait Sink<T>: Send + Sync + 'static {
    /// Delivers one observation; false once the consumer is gone.
    fn deliver(&self, item: T) -> bool;
}

impl<T, E: From<T> + Send + 'static> Sink<T> for UnboundedSender<E> {
    fn deliver(&self, item: T) -> bool {
        self.send(E::from(item)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Event {
        Number(u32),
    }

    impl From<u32> for Event {
        fn from(n: u32) -> Self {
            Event::Number(n)
        }
    }

    #[test]
    fn a_channel_of_a_wider_type_is_a_sink() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
        assert!(Sink::<u32>::deliver(&tx, 7));
        assert_eq!(rx.try_recv().unwrap(), Event::Number(7));
        drop(rx);
        assert!(!Sink::<u32>::deliver(&tx, 8));
    }
}
