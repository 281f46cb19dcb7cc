//! Runs the signalfd example: a Rust host with SIGCHLD blocked in all threads reaps and
//! reports every orphan.

use std::process::Command;

#[test]
fn the_signalfd_example_reaps_and_reports_every_orphan() {
    // cargo builds examples next to the test binaries: target/<profile>/examples/.
    let exe = std::env::current_exe().unwrap();
    let example = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("examples/signalfd_reaper"))
        .unwrap();
    if !example.exists() {
        // Only `cargo test` of the whole package builds examples; build it for a lone run.
        let built = Command::new(env!("CARGO"))
            .args([
                "build",
                "-p",
                "exitwatch-core",
                "--example",
                "signalfd_reaper",
            ])
            .status()
            .unwrap();
        assert!(built.success());
    }
    let output = Command::new(&example)
        .arg("40")
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut codes: Vec<i32> = stdout
        .lines()
        .filter_map(|l| l.split("code ").nth(1)?.split(' ').next()?.parse().ok())
        .collect();
    codes.sort_unstable();
    assert_eq!(
        codes,
        (1..=40).collect::<Vec<_>>(),
        "every orphan once, with its code"
    );
    assert!(stdout.contains("reaped 40 orphans through the signalfd path; 0 zombies left"));
}
