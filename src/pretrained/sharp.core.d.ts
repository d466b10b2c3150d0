export type Sharp = unknown;
