/**
 * What badge matching compares: surrounding spaces and case do not count (OCPP 2.0.1 idTokens are case-insensitive).
 * Dependency-free, so that the observation writer's thread can use it without loading the ORM.
 */
export function badgeMatchKey(badge: string): string {
  return badge.trim().toLowerCase();
}
