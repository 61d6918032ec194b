/** The part of asciichart (no published types) that scx-sim uses. */
declare module 'asciichart' {
  export interface PlotConfig {
    height?: number;
    min?: number;
    max?: number;
    offset?: number;
    padding?: string;
    format?: (value: number, index: number) => string;
    /** ANSI colour codes, one per series. */
    colors?: string[];
  }
  export const blue: string;
  export const green: string;
  export const red: string;
  export const magenta: string;
  export const cyan: string;
  export const yellow: string;
  export const reset: string;
  export function plot(series: number[] | number[][], config?: PlotConfig): string;
}
