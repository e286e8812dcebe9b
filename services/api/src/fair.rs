//! Weighted fair sharing of the pipeline's room between users, then between
//! each user's runs: which waiting compounds to admit next.
//!
//! Each user and each run has a virtual time that grows by `admitted /
//! weight` as its compounds are admitted; the next compounds go to the user
//! with the smallest virtual time, and within that user to the run with the
//! smallest. So over any stretch where both wait, a user (a run) gets a share
//! of admissions proportional to its weight, and one that arrives late starts
//! at the current virtual time: it neither waits behind what others admitted
//! before it came nor gets a burst of credit for the time it was away. A
//! weight is never zero, so no one starves.
//!
//! A compound is admitted only when every stage of its run's route has room
//! (the per-stage windows of `scheduler`): a run whose slow stage is full
//! waits without holding up runs that do not use that stage.

use std::collections::HashMap;

/// Compounds of one run waiting to be admitted.
#[derive(Debug, Clone)]
pub struct Demand {
    pub run: i64,
    pub user: String,
    /// The run's priority weight (`Priority::weight`); a user is weighed by
    /// their heaviest run that is waiting.
    pub weight: u32,
    /// Compounds not yet admitted.
    pub waiting: u32,
    /// Indices (into the room slice) of the stages every compound of this run
    /// occupies while in flight.
    pub stages: Vec<usize>,
}

/// The virtual times, kept from one round to the next.
#[derive(Debug, Default)]
pub struct FairQueue {
    users: HashMap<String, f64>,
    runs: HashMap<i64, f64>,
}

impl FairQueue {
    /// Hands out room: returns `(run, compounds to admit)` in the order
    /// picked. `room[s]` is what stage `s` can still take (decremented as
    /// compounds are admitted); `user_room` caps a user's admissions this
    /// round (absent: no cap). Admits at most `quantum` compounds per pick,
    /// so fairness is exact to within a quantum.
    pub fn select(&mut self, demands: &[Demand], room: &mut [i64], user_room: &mut HashMap<String, i64>, quantum: u32) -> Vec<(i64, u32)> {
        let quantum = quantum.max(1);
        // Users and runs with nothing waiting drop out; newcomers start at
        // the smallest virtual time among those who stay.
        let mut by_user: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, d) in demands.iter().enumerate().filter(|(_, d)| d.waiting > 0) {
            by_user.entry(d.user.as_str()).or_default().push(i);
        }
        self.users.retain(|u, _| by_user.contains_key(u.as_str()));
        self.runs.retain(|r, _| demands.iter().any(|d| d.run == *r && d.waiting > 0));
        let base = self.users.values().copied().fold(f64::INFINITY, f64::min);
        let base = if base.is_finite() { base } else { 0.0 };
        for vt in self.users.values_mut() {
            *vt -= base;
        }
        for user in by_user.keys() {
            self.users.entry((*user).to_owned()).or_insert(0.0);
        }
        for runs in by_user.values() {
            let floor = runs.iter().filter_map(|&i| self.runs.get(&demands[i].run)).copied().fold(f64::INFINITY, f64::min);
            let floor = if floor.is_finite() { floor } else { 0.0 };
            for &i in runs {
                let vt = self.runs.entry(demands[i].run).or_insert(floor);
                *vt -= floor;
            }
        }

        let mut left: Vec<u32> = demands.iter().map(|d| d.waiting).collect();
        // Which runs could take anything before any pick: only those that
        // could not (their own stages full) are excused from earning credit
        // below; one that could but lost the room to others keeps its lower
        // virtual time and goes first next round.
        let could_start: Vec<bool> =
            demands.iter().map(|d| d.waiting > 0 && d.stages.iter().all(|&s| room[s] > 0) && user_room.get(&d.user).is_none_or(|r| *r > 0)).collect();
        let mut granted: Vec<(i64, u32)> = Vec::new();
        loop {
            // What each run could take now: its quantum, bounded by its
            // waiting compounds, the room of each of its stages and its user's room.
            let can_take = |i: usize, room: &[i64], user_room: &HashMap<String, i64>| -> u32 {
                let d = &demands[i];
                let mut n = (left[i].min(quantum)) as i64;
                for &s in &d.stages {
                    n = n.min(room[s]);
                }
                if let Some(r) = user_room.get(&d.user) {
                    n = n.min(*r);
                }
                n.max(0) as u32
            };
            let mut pick: Option<(f64, &str)> = None;
            for (user, runs) in &by_user {
                if runs.iter().any(|&i| can_take(i, room, user_room) > 0) {
                    let vt = self.users[*user];
                    if pick.is_none_or(|(best, name)| vt < best || (vt == best && *user < name)) {
                        pick = Some((vt, user));
                    }
                }
            }
            let Some((_, user)) = pick else { break };
            let runs = &by_user[user];
            let (i, n) = runs
                .iter()
                .map(|&i| (i, can_take(i, room, user_room)))
                .filter(|(_, n)| *n > 0)
                .min_by(|(a, _), (b, _)| {
                    let (va, vb) = (self.runs[&demands[*a].run], self.runs[&demands[*b].run]);
                    va.total_cmp(&vb).then(demands[*a].run.cmp(&demands[*b].run))
                })
                .expect("the picked user has a run that can take some");
            let d = &demands[i];
            left[i] -= n;
            for &s in &d.stages {
                room[s] -= n as i64;
            }
            if let Some(r) = user_room.get_mut(&d.user) {
                *r -= n as i64;
            }
            let user_weight = runs.iter().filter(|&&j| left[j] > 0 || j == i).map(|&j| demands[j].weight).max().unwrap_or(1).max(1);
            *self.users.get_mut(user).expect("user entered above") += n as f64 / user_weight as f64;
            *self.runs.get_mut(&d.run).expect("run entered above") += n as f64 / d.weight.max(1) as f64;
            match granted.iter_mut().find(|(run, _)| *run == d.run) {
                Some((_, total)) => *total += n,
                None => granted.push((d.run, n)),
            }
        }
        // Who waited but could take nothing (its stages were full) earns no
        // credit for it: it is brought up to the smallest virtual time of
        // those admitted this round, or it would take all the room for a
        // long while once its stage frees up.
        let served = |run: i64| granted.iter().any(|(r, _)| *r == run);
        let excused = |i: usize| !could_start[i];
        let floor = by_user.iter().filter(|(_, runs)| runs.iter().any(|&i| served(demands[i].run))).map(|(u, _)| self.users[*u]).fold(f64::INFINITY, f64::min);
        if floor.is_finite() {
            for (user, runs) in &by_user {
                if !runs.iter().any(|&i| served(demands[i].run)) && runs.iter().all(|&i| excused(i)) {
                    let vt = self.users.get_mut(*user).expect("user entered above");
                    *vt = vt.max(floor);
                }
            }
        }
        for runs in by_user.values() {
            let floor = runs.iter().filter(|&&i| served(demands[i].run)).map(|&i| self.runs[&demands[i].run]).fold(f64::INFINITY, f64::min);
            if floor.is_finite() {
                for &i in runs.iter().filter(|&&i| !served(demands[i].run) && excused(i)) {
                    let vt = self.runs.get_mut(&demands[i].run).expect("run entered above");
                    *vt = vt.max(floor);
                }
            }
        }
        granted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demand(run: i64, user: &str, priority: &str, waiting: u32, stages: &[usize]) -> Demand {
        Demand { run, user: user.into(), weight: pharmforge_core::Priority::parse(priority).unwrap().weight(), waiting, stages: stages.to_vec() }
    }

    fn granted(g: &[(i64, u32)], run: i64) -> u32 {
        g.iter().filter(|(r, _)| *r == run).map(|(_, n)| n).sum()
    }

    #[test]
    fn a_small_run_of_another_user_gets_in_beside_a_large_one() {
        let mut q = FairQueue::default();
        let mut room = vec![100];
        let g = q.select(&[demand(1, "a", "normal", 100_000, &[0]), demand(2, "b", "normal", 5, &[0])], &mut room, &mut HashMap::new(), 1);
        assert_eq!(granted(&g, 2), 5, "{g:?}");
        assert_eq!(granted(&g, 1), 95);
        assert_eq!(room, vec![0]);
    }

    #[test]
    fn users_share_equally_whatever_their_number_of_runs() {
        let mut q = FairQueue::default();
        let mut room = vec![300];
        let demands = [
            demand(1, "a", "normal", 1_000, &[0]),
            demand(2, "a", "normal", 1_000, &[0]),
            demand(3, "a", "normal", 1_000, &[0]),
            demand(4, "b", "normal", 1_000, &[0]),
        ];
        let g = q.select(&demands, &mut room, &mut HashMap::new(), 1);
        assert_eq!(granted(&g, 4), 150);
        assert_eq!(granted(&g, 1) + granted(&g, 2) + granted(&g, 3), 150);
        assert_eq!((granted(&g, 1), granted(&g, 2), granted(&g, 3)), (50, 50, 50));
    }

    #[test]
    fn priorities_weigh_four_two_one_and_low_is_never_starved() {
        let mut q = FairQueue::default();
        let demands = [demand(1, "a", "high", 100_000, &[0]), demand(2, "b", "normal", 100_000, &[0]), demand(3, "c", "low", 100_000, &[0])];
        let mut total = [0u32; 3];
        // Many rounds with little room each: shares hold across rounds too.
        for _ in 0..100 {
            let mut room = vec![7];
            let g = q.select(&demands, &mut room, &mut HashMap::new(), 1);
            for (k, t) in total.iter_mut().enumerate() {
                *t += granted(&g, k as i64 + 1);
            }
        }
        assert_eq!(total.iter().sum::<u32>(), 700);
        assert!((399..=401).contains(&total[0]) && (199..=201).contains(&total[1]) && (99..=101).contains(&total[2]), "{total:?}");
    }

    #[test]
    fn within_a_user_runs_share_by_priority() {
        let mut q = FairQueue::default();
        let mut room = vec![90];
        let g = q.select(&[demand(1, "a", "low", 1_000, &[0]), demand(2, "a", "normal", 1_000, &[0])], &mut room, &mut HashMap::new(), 1);
        assert_eq!((granted(&g, 1), granted(&g, 2)), (30, 60));
    }

    #[test]
    fn a_full_stage_holds_back_only_the_runs_that_use_it() {
        let mut q = FairQueue::default();
        // Stage 1 (say pubchem) has no room; stage 0 has plenty.
        let mut room = vec![50, 0];
        let g = q.select(&[demand(1, "a", "normal", 1_000, &[0, 1]), demand(2, "b", "normal", 10, &[0])], &mut room, &mut HashMap::new(), 4);
        assert_eq!(granted(&g, 1), 0);
        assert_eq!(granted(&g, 2), 10);
        assert_eq!(room, vec![40, 0]);
    }

    #[test]
    fn a_user_cap_bounds_that_user_only() {
        let mut q = FairQueue::default();
        let mut room = vec![100];
        let mut caps = HashMap::from([("a".to_owned(), 10i64), ("b".to_owned(), 1_000)]);
        let g = q.select(&[demand(1, "a", "normal", 1_000, &[0]), demand(2, "b", "normal", 1_000, &[0])], &mut room, &mut caps, 3);
        assert_eq!(granted(&g, 1), 10);
        assert_eq!(granted(&g, 2), 90);
    }

    #[test]
    fn a_user_held_back_by_a_full_stage_earns_no_credit_meanwhile() {
        let mut q = FairQueue::default();
        // a's only run uses stage 1, full for a long while; b uses stage 0.
        for _ in 0..50 {
            let mut room = vec![100, 0];
            q.select(&[demand(1, "a", "normal", 1_000_000, &[1]), demand(2, "b", "normal", 1_000_000, &[0])], &mut room, &mut HashMap::new(), 8);
        }
        // Then a submits a run through stage 0: it shares it, it does not take it all.
        let mut room = vec![100, 0];
        let demands = [demand(1, "a", "normal", 1_000_000, &[1]), demand(3, "a", "normal", 1_000_000, &[0]), demand(2, "b", "normal", 1_000_000, &[0])];
        let g = q.select(&demands, &mut room, &mut HashMap::new(), 1);
        assert_eq!((granted(&g, 3), granted(&g, 2)), (50, 50), "{g:?}");
    }

    #[test]
    fn when_each_round_has_less_room_than_a_quantum_users_still_take_turns() {
        let mut q = FairQueue::default();
        let demands = [demand(1, "alice", "normal", 100_000, &[0]), demand(2, "bob", "normal", 100_000, &[0])];
        let mut total = [0u32; 2];
        for _ in 0..10 {
            // A slow stage frees 4 places a round; a pick may take 16.
            let mut room = vec![4];
            let g = q.select(&demands, &mut room, &mut HashMap::new(), 16);
            total[0] += granted(&g, 1);
            total[1] += granted(&g, 2);
        }
        assert_eq!(total, [20, 20], "bob lost the first round's room to alice, and got the next");
    }

    #[test]
    fn a_latecomer_starts_at_the_current_virtual_time() {
        let mut q = FairQueue::default();
        // User a alone for a long time...
        for _ in 0..50 {
            let mut room = vec![100];
            q.select(&[demand(1, "a", "normal", 1_000_000, &[0])], &mut room, &mut HashMap::new(), 8);
        }
        // ...then b arrives: shares equally from now on, without a backlog of credit.
        let mut room = vec![100];
        let g = q.select(&[demand(1, "a", "normal", 1_000_000, &[0]), demand(2, "b", "normal", 1_000_000, &[0])], &mut room, &mut HashMap::new(), 1);
        assert_eq!((granted(&g, 1), granted(&g, 2)), (50, 50));
    }
}
