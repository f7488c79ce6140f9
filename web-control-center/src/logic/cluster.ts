/** What the cluster view shows of a node's answer: one row per member, marked. */
import type { ClusterMember, ClusterStatus } from "../data/backend";

/** A member that has not answered the leader for this long is shown as not answering (the
 * leader hears from every member at each heartbeat, 100 ms by default). */
export const SILENT_AFTER_MS = 2000;

export interface MemberRow {
  member: ClusterMember;
  /** It leads. */
  leader: boolean;
  /** It is the node that answered (the one the control center talks to). */
  self: boolean;
  /** "answering", "not answering", or "unknown" (lag is known only to the leader). */
  health: "answering" | "not answering" | "unknown";
  /** How far behind the leader's log it is, in entries and in time ("—" where unknown). */
  behind: string;
}

/** A member's lag as the leader reports it: entries it lacks, and how long ago the oldest of
 * them was written. */
export function behindText(member: ClusterMember): string {
  if (member.lag_entries === null) return "—";
  if (member.lag_entries === 0) return "in step";
  const entries = member.lag_entries === 1 ? "1 entry" : `${member.lag_entries} entries`;
  return member.lag_ms === null ? entries : `${entries}, ${member.lag_ms} ms`;
}

export function memberRows(status: ClusterStatus): MemberRow[] {
  return status.members.map((member) => {
    let health: MemberRow["health"] = "unknown";
    if (member.last_ack_ms !== null) health = member.last_ack_ms >= SILENT_AFTER_MS ? "not answering" : "answering";
    else if (status.role === "leader") health = "not answering";
    return { member, leader: member.id === status.leader, self: member.id === status.node, health, behind: behindText(member) };
  });
}

/** One line saying where the cluster stands, as the answering node sees it. */
export function summary(status: ClusterStatus): string {
  if (status.role === "single") return "This server is not a node of a cluster: its memories live on it alone.";
  const leader = status.leader === null ? "no leader (an election is under way, or no quorum)" : `node ${status.leader} leads`;
  const voters = status.members.filter((m) => m.kind === "voter").length;
  const learners = status.members.length - voters;
  return `Node ${status.node} is ${status.role} in term ${status.term}; ${leader}; ${voters} voters${learners > 0 ? `, ${learners} learners` : ""}; applied up to entry ${status.applied ?? 0}.`;
}
