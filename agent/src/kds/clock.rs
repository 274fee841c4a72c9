//! Time and sleeping behind a trait, so that retry and `Retry-After` handling can be tested
//! without waiting: tests drive a [`FakeClock`] whose sleeps only move its own hands.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// The clock the KDS client reads and sleeps on.
///
/// `now` measures the deadline (monotonic); `wall_time` turns an HTTP-date `Retry-After` into a
/// delay and is the time certificates are checked at. `sleep` is the only way the client waits.
pub trait Clock: Send + Sync {
    /// Monotonic time, for deadlines.
    fn now(&self) -> Instant;
    /// Wall-clock time, for HTTP dates and certificate validity.
    fn wall_time(&self) -> SystemTime;
    /// Block for `d`.
    fn sleep(&self, d: Duration);
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall_time(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// A clock that never waits: `sleep` advances both its monotonic and its wall time and records
/// the requested duration. Real time that passes meanwhile (a network round trip) is not
/// counted, so only sleeps move it; tests assert on [`FakeClock::sleeps`].
#[derive(Debug)]
pub struct FakeClock {
    start: Instant,
    wall_start: SystemTime,
    state: Mutex<FakeState>,
}

#[derive(Debug, Default)]
struct FakeState {
    elapsed: Duration,
    sleeps: Vec<Duration>,
}

impl FakeClock {
    /// A fake clock whose wall time starts at `wall_start`.
    pub fn new(wall_start: SystemTime) -> FakeClock {
        FakeClock {
            start: Instant::now(),
            wall_start,
            state: Mutex::new(FakeState::default()),
        }
    }

    /// A fake clock starting at the current wall time.
    pub fn starting_now() -> FakeClock {
        FakeClock::new(SystemTime::now())
    }

    /// Every duration passed to `sleep`, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    /// Total fake time that has passed.
    pub fn elapsed(&self) -> Duration {
        self.lock().elapsed
    }

    /// Move the clock forward without recording a sleep (e.g. to simulate time passing
    /// between two operations).
    pub fn advance(&self, d: Duration) {
        let mut st = self.lock();
        st.elapsed = st.elapsed.saturating_add(d);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        // A panic while holding this lock cannot leave the state inconsistent (plain fields).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        let elapsed = self.lock().elapsed;
        self.start.checked_add(elapsed).unwrap_or(self.start)
    }

    fn wall_time(&self) -> SystemTime {
        let elapsed = self.lock().elapsed;
        self.wall_start
            .checked_add(elapsed)
            .unwrap_or(self.wall_start)
    }

    fn sleep(&self, d: Duration) {
        let mut st = self.lock();
        st.elapsed = st.elapsed.saturating_add(d);
        st.sleeps.push(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_clock_moves_only_on_sleep() {
        let c = FakeClock::starting_now();
        let t0 = c.now();
        let w0 = c.wall_time();
        c.sleep(Duration::from_secs(3));
        c.advance(Duration::from_secs(1));
        assert_eq!(c.now() - t0, Duration::from_secs(4));
        assert_eq!(
            c.wall_time().duration_since(w0).ok(),
            Some(Duration::from_secs(4))
        );
        assert_eq!(c.sleeps(), vec![Duration::from_secs(3)]);
        assert_eq!(c.elapsed(), Duration::from_secs(4));
    }
}
