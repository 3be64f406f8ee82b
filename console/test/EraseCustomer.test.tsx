import { fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { describe, expect, it, vi } from "vitest";
import type { EraseSubjectResponse } from "@hookd/client";
import { EraseCustomer } from "../src/screens/Customer";

describe("erase a customer's data", () => {
  it("erases only after the subject was typed exactly, then shows the counts", async () => {
    const erase = vi.fn(async (_: string) => ({ eventsDeleted: 3n, deliveriesDeleted: 7n, deliveriesCancelled: 2n, attemptsDeleted: 5n, executionsDeleted: 1n }) as EraseSubjectResponse);
    const onErased = vi.fn();
    render(<EraseCustomer subject="cus_42" erase={erase} onErased={onErased} />);
    const button = screen.getByRole("button", { name: "Erase this customer's data" }) as HTMLButtonElement;
    expect(button.disabled).toBe(true);
    const input = screen.getByLabelText("Type the customer to confirm");
    fireEvent.input(input, { target: { value: "cus_4" } });
    expect(button.disabled).toBe(true);
    fireEvent.submit(button.closest("form")!);
    expect(erase).not.toHaveBeenCalled();
    fireEvent.input(input, { target: { value: "cus_42" } });
    expect(button.disabled).toBe(false);
    fireEvent.click(button);
    await waitFor(() => expect(screen.getByRole("status").textContent).toContain("Erased 3 events, 7 deliveries (2 cancelled first), 5 attempts and 1 executions"));
    expect(erase).toHaveBeenCalledWith("cus_42");
    expect(onErased).toHaveBeenCalledOnce();
  });

  it("shows the error of a refused erase", async () => {
    const erase = vi.fn(async () => {
      throw new Error("[permission_denied] EraseSubject needs an ADMIN key");
    });
    render(<EraseCustomer subject="cus_42" erase={erase} />);
    fireEvent.input(screen.getByLabelText("Type the customer to confirm"), { target: { value: "cus_42" } });
    fireEvent.click(screen.getByRole("button", { name: "Erase this customer's data" }));
    await waitFor(() => expect(screen.getByRole("alert").textContent).toContain("needs an ADMIN key"));
  });
});
