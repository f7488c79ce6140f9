//! openraft's storage conformance suite on Sutra's Raft log (on files, in a temporary
//! directory) and state machine.

use openraft::testing::log::{StoreBuilder, Suite};
use openraft::type_config::TypeConfigExt;
use openraft::StorageError;
use sutra_cluster::log::LogStore;
use sutra_cluster::machine::StateMachine;
use sutra_cluster::raft::TypeConfig;

struct OnFiles;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for OnFiles {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<TypeConfig>> {
        let dir =
            tempfile::tempdir().map_err(|e| StorageError::read(TypeConfig::err_from_error(&e)))?;
        let log = LogStore::open(dir.path())
            .map_err(|e| StorageError::read(TypeConfig::err_from_error(&e)))?;
        Ok((dir, log, StateMachine::default()))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_and_state_machine_pass_openrafts_storage_suite() {
    Suite::test_all(OnFiles).await.expect("the suite passes");
}
