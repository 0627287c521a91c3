"""hydra/launcher=slurm: hydra-submitit-launcher's SLURM launcher, with the ways a sweep on a cluster goes
wrong said in one line each, instead of a submitit traceback or a wait that never ends:

- sbatch refuses the job array (a partition without GPUs asked for some, an unknown partition): its
  reason, and the launcher setting to change;
- a job stops before it finishes (scancel, its time limit, a node failure): train.py exits on SIGTERM, and
  the job returns that to the launcher (a job ending without a result would leave submitit waiting on
  the cluster's accounting, which may be minutes late or, without slurmdbd, absent); once every job
  has ended the launcher names the stopped ones and the command that finishes each.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn

from genre_lightning.errors import UserError, exit_on_user_error

try:
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as SubmititSlurmLauncher
except ModuleNotFoundError:
    # Hydra imports every module under hydra_plugins for every command: without the sweeps extra this
    # module still imports, quietly, and SlurmLauncher is a plain class that Hydra does not register
    SubmititSlurmLauncher = object

# train.py's exit status when stopped by SIGTERM or Ctrl-C (training/interrupt.py: hint_on_stop)
STOPPED = (143, 130)


class JobStopped(Exception):
    """What a job that exited before returning gives the launcher: its run folder and exit status."""

    def __init__(self, run_dir: str, code: int | None):
        super().__init__(run_dir, code)
        self.run_dir, self.code = run_dir, code


class SlurmLauncher(SubmititSlurmLauncher):
    def __call__(self, *args, **kwargs) -> JobReturn:
        """Runs in the SLURM job: train.py's exit (a stop, or a UserError it printed) as a failed job."""
        task = self.task_function

        def exits_as_error(cfg):
            try:
                return task(cfg)
            except SystemExit as exit:
                raise JobStopped(HydraConfig.get().runtime.output_dir, exit.code) from None

        self.task_function = exits_as_error
        try:
            return super().__call__(*args, **kwargs)
        finally:
            self.task_function = task

    @exit_on_user_error
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        # Hydra imports every plugin module at start-up: submitit only when a sweep launches
        from submitit.core.utils import FailedJobError

        try:
            results = super().launch(job_overrides, initial_job_idx)
        except FailedJobError as err:
            refusal = [line for line in str(err).splitlines() if line.startswith("sbatch: error:")]
            if not refusal:
                raise
            raise UserError(
                f"sbatch refused the jobs ({refusal[-1].removeprefix('sbatch: error: ')}); set "
                "hydra.launcher.* to what the partition has (sinfo -o '%P %c %m %G': cores, memory in MB, "
                "GPUs), e.g. hydra/launcher=slurm_cpu on a partition without GPUs"
            ) from None
        ended = [r._return_value for r in results if isinstance(r._return_value, JobStopped)]
        if ended:
            sweep_dir = Path(self.config.hydra.sweep.dir)
            stopped = [job.run_dir for job in ended if job.code in STOPPED]
            failed = [job.run_dir for job in ended if job.code not in STOPPED]
            lines = []
            if stopped:
                lines.append(
                    f"job(s) {stopped} were stopped (scancel, time limit or node failure); finish each with "
                    "python train.py resume=<job folder>"
                )
            if failed:
                lines.append(
                    f"job(s) {failed} failed: see their error in {sweep_dir / '.submitit'}/*_log.err"
                )
            raise UserError(
                f"{'; '.join(lines)}; then rank and merge the jobs with "
                f"python -m genre_lightning.training.sweep_cli summary|aggregate {sweep_dir}"
            )
        return results
