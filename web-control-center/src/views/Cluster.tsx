import { useEffect } from "react";
import { ErrorNote, Loading, useLoad } from "../components/common";
import { useBackend } from "../data/context";
import { memberRows, summary } from "../logic/cluster";

/** How often the view asks the server again. */
const REFRESH_MS = 2000;

/** The cluster the server is a node of: roles, leader, and (from the leader) each member's lag. */
export function Cluster() {
  const backend = useBackend();
  const { data, error, loading, reload } = useLoad(() => backend.cluster(), [backend]);

  useEffect(() => {
    const timer = window.setInterval(reload, REFRESH_MS);
    return () => window.clearInterval(timer);
  }, [reload]);

  if (loading && !data) return <Loading what="the cluster" />;
  if (data === null && !error) {
    return (
      <section>
        <h2>Cluster</h2>
        <p>Memories kept in this browser are not replicated: there is no cluster to show.</p>
      </section>
    );
  }
  return (
    <section>
      <h2>Cluster</h2>
      <ErrorNote error={error} />
      {data ? (
        <>
          <p className="cluster-summary">{summary(data)}</p>
          {data.members.length > 0 ? (
            <table aria-label="members">
              <thead>
                <tr>
                  <th>Node</th>
                  <th>Kind</th>
                  <th>API</th>
                  <th>Cluster address</th>
                  <th>Holds up to</th>
                  <th>Behind by</th>
                  <th>Last answered</th>
                </tr>
              </thead>
              <tbody>
                {memberRows(data).map(({ member, leader, self, health, behind }) => (
                  <tr key={member.id} className={health === "not answering" ? "warn" : undefined}>
                    <td>
                      {member.id}
                      {leader ? " (leader)" : ""}
                      {self ? " — this server" : ""}
                    </td>
                    <td>{member.kind}</td>
                    <td>{member.api}</td>
                    <td>{member.raft}</td>
                    <td>{member.matched ?? "—"}</td>
                    <td>{behind}</td>
                    <td>{health === "unknown" ? "—" : member.last_ack_ms === null ? "not yet" : `${member.last_ack_ms} ms ago${health === "not answering" ? " — not answering" : ""}`}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
          {data.role !== "leader" && data.role !== "single" && data.leader !== null ? (
            <p className="hint">How far each member is behind is known to the leader: open the control center of node {data.leader} ({data.members.find((m) => m.id === data.leader)?.api ?? "its API"}).</p>
          ) : null}
        </>
      ) : null}
    </section>
  );
}
